"""Does it matter? The model's output beside attention: predictions, interventions, attribution.

No Streamlit. Every result is a frozen dataclass of read-only numpy arrays (shapes in the field
comments), safe to cache and share between sessions. Formulas: docs/methods.md, section
"Outputs, interventions and attribution".

- `inputs`: a text tokenised once into tokens and the app's words (`Sentence`).
- `outputs`: what the model outputs for a text (`Target` says which output; `predict`).
- `hooks`: the one private, hooked forward pass (head ablation and gates), under the model's lock.
- `interventions`: switch heads off (zero or mean ablation), mask or drop words (`intervene`).
- `importance`: every head's ablation effect and gradient score (`head_importance`).
- `attribution`: gradient x input, integrated gradients (Captum), blank-out, lenses, one table.
- `lenses`: raw attention, rollout, flow and norm-based importances of the same output.
- `faithfulness`: Spearman correlation of the lenses with blank-out and gradients, per sentence
  and over a corpus; Abnar & Zuidema's (2020) Table 1 as data. CLI: `python -m core.explain`.
- `errors`: typed errors whose `str()` is a sentence for the user.
"""

"""The sidebar's model box: fetch a downloadable model (its size first, then a progress bar and a
Cancel button) and say when a model was unloaded to make room (the model set is bounded by
memory: core.attention.engine).

Choosing a model that is not on this machine does not start loading it: the box offers the
download instead (the current model stays until the download has finished).
"""

from __future__ import annotations

import streamlit as st

from core.models.availability import hub_endpoint
from core.models.download import DownloadError
from ui import cache, state

_OFFER = "_download_offer"  # model id whose download the box offers
_SEEN = "_evictions_seen"  # last eviction event this session has shown


def offer(model_id: str) -> None:
    """Open the download box for `model_id` (called when it is chosen but not on this machine)."""
    state.remember(_OFFER, model_id)


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def _use(model_id: str) -> None:
    state.set_control("model", model_id)
    state.forget(_OFFER)
    cache.forget_download(model_id)


def _close(model_id: str) -> None:
    state.forget(_OFFER)
    cache.forget_download(model_id)


@st.fragment(run_every=0.5)
def _progress(model_id: str) -> None:
    job = cache.download_job(model_id)
    if job is None:
        return
    if job.running:
        p = job.progress
        fraction = getattr(p, "fraction", 0.0)
        done, total = getattr(p, "done", 0), getattr(p, "total", 0) or job.subject.total_bytes
        st.progress(fraction, text=f"{_mb(done)} of {_mb(total)}" + (f" · {p.file}" if p is not None else ""))
        st.button("Cancel", key=f"_cancel_{model_id}", icon=":material/close:", on_click=job.cancel)
        return
    st.rerun(scope="app")  # finished, failed or cancelled: the whole sidebar shows the outcome


def download_box() -> None:
    """The download offer, progress or outcome for the model this session asked for."""
    model_id = state.recall(_OFFER)
    if not model_id:
        return
    job = cache.download_job(model_id)
    with st.container(border=True):
        if job is not None and job.running:
            st.markdown(f"**Downloading {model_id}**")
            _progress(model_id)
            return
        if job is not None and job.done:
            st.success(f"{model_id} is downloaded and ready (offline too).", icon=":material/check:")
            st.button(f"Use {model_id}", key="_use_downloaded", on_click=_use, args=(model_id,), type="primary")
            return
        if job is not None and job.error:
            st.error(job.error, icon=":material/error:")
            st.button("Close", key="_close_download", on_click=_close, args=(model_id,))
            return
        try:
            plan = cache.download_plan(model_id, hub_endpoint())
        except DownloadError as err:
            st.warning(str(err), icon=":material/cloud_off:")
            st.button("Close", key="_close_download", on_click=_close, args=(model_id,))
            return
        st.markdown(f"**{model_id}** is not on this machine.")
        st.caption(f"Download {plan.size_text} from the Hugging Face Hub into its local cache? "
                   "Afterwards it works offline. The current model stays in use meanwhile.")
        c1, c2 = st.columns(2)
        c1.button(f"Download {_mb(plan.total_bytes)}", key="_start_download", icon=":material/download:",
                  on_click=cache.start_download, args=(plan,))
        c2.button("Not now", key="_close_download", on_click=_close, args=(model_id,))


def eviction_notice() -> None:
    """Say once per session when a model was unloaded to make room for another."""
    if state.recall(_SEEN) is None:  # a new session: only what happens from now on
        past = cache.model_events(0)
        state.remember(_SEEN, past[-1].seq if past else 0)
        return
    seen = int(state.recall(_SEEN))
    events = cache.model_events(seen)
    if not events:
        return
    state.remember(_SEEN, events[-1].seq)
    for event in events[-2:]:
        st.info(event.message, icon=":material/memory:")

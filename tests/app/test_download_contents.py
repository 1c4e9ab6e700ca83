"""A downloaded CSV says what it shows inside the file (model, view, text), not only in its name."""

from __future__ import annotations


def test_a_downloaded_csv_says_what_it_shows_inside_the_file():
    from ui import page

    make = page._with_columns(lambda: b"query,key,weight\nthe,cat,0.5\n",
                              {"model": "all-MiniLM-L6-v2", "view": "Raw attention · layer 2, head 5",
                               "text": 'The cat, "sat".'})
    lines = make().decode().splitlines()
    assert lines[0] == "model,view,text,query,key,weight"
    assert lines[1] == 'all-MiniLM-L6-v2,"Raw attention · layer 2, head 5","The cat, ""sat"".",the,cat,0.5'

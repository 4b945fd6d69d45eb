"""`curate report OUT`: the figures of a run in OUT/report.json and one self-contained OUT/report.html.

    figures.py   DuckDB queries over the Parquet outputs (funnel, drops, languages, lengths, dedup, ...)
    runinfo.py   the JSON outputs (plan, index, decontamination, stage logs and stats)
    plots.py     matplotlib figures as data URIs
    render.py    the HTML page (escaped, no script, no network)
    memory.py    the peak_memory step that gives the report memory per stage
    build.py     build_report / write_report / main (`python -m curation.report OUT`)
"""

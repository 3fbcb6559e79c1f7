"""The Solara app: a page shared by every market design (`page`), the session's model and snapshots
(`session`), figures drawn off the render path (`figures`), error isolation (`guard`), and one
views module per design (`designs`)."""

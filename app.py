"""The localmarl app: `solara run app.py` (or `localmarl app`), then open the printed address.

Each browser session gets its own model; the page is `visualization.page.Page`.
"""

from visualization.page import Page

page = Page

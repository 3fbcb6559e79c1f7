"""The localmarl app: `solara run app.py` (or `localmarl app`), then open the printed address.

Each browser session gets its own model; the page is `visualization.page.Page`, the same for every
market design, and what it draws comes from the design's views module (`visualization.designs`).
Trained runs are listed from `runs/out` of the working directory and of the repository. The page's
JavaScript comes from the `solara-assets` package, so it works without internet.
"""

import solara.server.settings

from visualization.page import Page

# no usage reports to solara's telemetry service (also when started as plain `solara run app.py`)
solara.server.settings.telemetry.mixpanel_enable = False

page = Page

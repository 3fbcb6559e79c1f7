"""The localmarl app: `solara run app.py` (or `localmarl app`), then open the printed address.

Each browser session gets its own model; the page is `visualization.page.Page`. The page's
JavaScript comes from the `solara-assets` package, so it works without internet.
"""

import solara.server.settings

from visualization.page import Page

# no usage reports to solara's telemetry service (also when started as plain `solara run app.py`)
solara.server.settings.telemetry.mixpanel_enable = False

page = Page

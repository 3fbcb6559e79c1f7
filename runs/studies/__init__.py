"""Each design's study: its profiles (quick, paper, ...) and jobs (`runs.study` runs them)."""

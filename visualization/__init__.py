"""Solara views of the model: the feeder, prices, aggregator scores, and the page that holds them."""

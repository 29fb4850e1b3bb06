"""The embedded data plane: an L7 router that sends real requests where the routing objects in
the store say (`table`: the pure decisions; `proxy`: the async server that acts on them)."""

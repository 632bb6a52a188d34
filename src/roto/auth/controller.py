ROUTES: list[object] = []  # placeholder, replaced by the domain helper

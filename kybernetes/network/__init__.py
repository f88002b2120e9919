"""kybernetes.network: see DESIGN.md's component table. Not built yet."""

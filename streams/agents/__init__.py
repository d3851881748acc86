"""One module per consumed topic."""

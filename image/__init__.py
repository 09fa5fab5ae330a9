"""Part under construction: see ARCHITECTURE.md section 1."""

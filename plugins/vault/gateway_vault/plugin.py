"""Hook implementations of the 'vault' plugin (backends are registered once the plugin is built)."""

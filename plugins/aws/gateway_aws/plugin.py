"""Hook implementations of the 'aws' plugin (backends are registered once the plugin is built)."""

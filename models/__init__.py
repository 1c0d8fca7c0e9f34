# Installed as the package `vmatte.registry` (see pyproject.toml) so the registry ships with vmatte.

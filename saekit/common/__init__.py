"""saekit's shared primitives, the lowest floor of the package: errors, atomic writes, lazy imports,
devices, JSON files and types, token selections, images and the static-HTML report builder. Nothing
here imports another saekit folder."""

"""Run daskburst on Kubernetes: manifests, the Dask operator and kr8s control."""

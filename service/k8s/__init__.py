"""The kube-scheduler extender: Kubernetes objects, quantities, placement rules and a cluster-state cache."""

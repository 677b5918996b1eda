module github.com/secrets-gateway/secrets-gateway/tests/interop

go 1.26.0

require sigs.k8s.io/secrets-store-csi-driver v1.6.1 // indirect

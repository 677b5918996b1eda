{{/*
The release notes. NOTES.txt only includes this template, so the chart tests can render it
offline with `helm template` (helm prints NOTES.txt only when installing against a cluster).
*/}}
{{- define "secrets-gateway.notes" -}}
{{- include "secrets-gateway.ascpValues" . -}}
{{- $fullname := include "secrets-gateway.fullname" . -}}
{{- $audiences := include "secrets-gateway.tokenAudiences" . | splitList "," | compact -}}
secrets-gateway {{ .Chart.AppVersion }} runs as DaemonSet {{ .Release.Namespace }}/{{ $fullname }} on every Linux node.

  Socket:   {{ .Values.providersDir }}/{{ .Values.providerName }}.sock
  Plugins:  {{ include "secrets-gateway.pluginList" . }}
{{- if .Values.http.enabled }}
  Health:   http://<pod-ip>:{{ .Values.http.port }}/healthz  /readyz  /metrics
{{- end }}

Check that every pod is ready:

  kubectl -n {{ .Release.Namespace }} rollout status daemonset/{{ $fullname }}
  kubectl -n {{ .Release.Namespace }} logs -l app.kubernetes.io/instance={{ .Release.Name }} --tail=20

1. SecretProviderClasses served by this gateway use

     spec:
       provider: {{ .Values.providerName }}
{{- if not (has (clean .Values.providersDir) (list "/var/run/secrets-store-csi-providers" "/etc/kubernetes/secrets-store-csi-providers")) }}

   The socket directory {{ .Values.providersDir }} is not one the CSI driver searches by default:
   add it to the driver chart value linux.additionalProvidersDirs (keep the defaults in the list), e.g.
     --set 'linux.additionalProvidersDirs={/etc/kubernetes/secrets-store-csi-providers,{{ .Values.providersDir }}}'
{{- end }}

2. Service-account tokens for the backends (CSIDriver tokenRequests)
{{- if $audiences }}

   The enabled plugins log in with the mounting pod's own service-account token. The kubelet only
   hands such tokens to the driver for the audiences listed in the CSIDriver object's tokenRequests,
   which the Secrets Store CSI Driver chart renders from its value "tokenRequests":
{{- if .Values.plugins.aws.enabled }}
     sts.amazonaws.com        aws: IRSA (AssumeRoleWithWebIdentity with the role in eks.amazonaws.com/role-arn)
     pods.eks.amazonaws.com   aws: EKS Pod Identity (the Pod Identity agent)
{{- end }}
{{- if and .Values.plugins.vault.enabled .Values.plugins.vault.audience }}
     {{ printf "%-24s" .Values.plugins.vault.audience }} vault: the audience your Vault role accepts (audience / bound_audiences)
{{- end }}
{{- range .Values.extraTokenAudiences }}
     {{ printf "%-24s" . }} extraTokenAudiences
{{- end }}

   Install or upgrade the driver with all of them (--set replaces the whole list; keep your other
   driver values, e.g. with -f your-driver-values.yaml):

     helm repo add secrets-store-csi-driver https://kubernetes-sigs.github.io/secrets-store-csi-driver/charts
     helm upgrade --install csi-secrets-store secrets-store-csi-driver/secrets-store-csi-driver \
       --namespace kube-system --version 1.6.1 \
{{- range $i, $audience := $audiences }}
       --set 'tokenRequests[{{ $i }}].audience={{ $audience }}' \
{{- end }}
       --set enableSecretRotation=true --set rotationPollInterval=2m

   Verify: kubectl get csidriver secrets-store.csi.k8s.io -o jsonpath='{.spec.tokenRequests}'
   Without these audiences the plugins above fail every mount with a missing-token error.
{{- else }}

   No enabled plugin needs a pod service-account token: the driver chart's tokenRequests can stay empty.
{{- end }}
{{- if .Values.plugins.vault.enabled }}
{{- if not .Values.plugins.vault.audience }}

   plugins.vault.audience is empty: each Vault SecretProviderClass must set the parameter "audience"
   (listed in the driver's tokenRequests), or the driver must request exactly one token audience.
{{- end }}
{{- if not .Values.plugins.vault.address }}

   plugins.vault.address is empty: every SecretProviderClass for Vault must set vaultAddress.
{{- end }}
{{- end }}
{{- if .Values.plugins.aws.enabled }}
{{- if .Values.plugins.aws.allowAmbientCredentials }}

   WARNING: plugins.aws.allowAmbientCredentials=true serves every pod with the gateway's own AWS
   credentials. Development only.
{{- end }}
{{- end }}
{{- if .Values.plugins.fake.enabled }}

3. The fake backend is enabled (demos only). Its store is ConfigMap {{ .Release.Namespace }}/{{ include "secrets-gateway.fakeStoreConfigMap" . }}
   (key {{ .Values.plugins.fake.storeKey }}). Edit it to rotate a secret; with the driver's secret rotation
   enabled the mounted file changes within about a minute or two:

     kubectl -n {{ .Release.Namespace }} edit configmap {{ include "secrets-gateway.fakeStoreConfigMap" . }}
{{- end }}
{{- $uid := .Values.securityContext.runAsUser }}
{{- if and (kindIs "float64" $uid) (eq (int $uid) 0) }}

Note: the gateway runs as root (UID 0, without any capability) because the host socket directory is
usually root-owned. docs/operations.md "Running as non-root" shows how to run it as another user.
{{- end }}
{{- include "secrets-gateway.ascpNotes" . }}
{{- end -}}

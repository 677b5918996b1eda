{{/* Names --------------------------------------------------------------------------------------- */}}

{{- define "secrets-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "secrets-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "secrets-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "secrets-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "secrets-gateway.fakeStoreConfigMap" -}}
{{- default (printf "%s-fake-store" (include "secrets-gateway.fullname" . | trunc 52 | trimSuffix "-")) .Values.plugins.fake.existingConfigMap -}}
{{- end -}}

{{/* Labels -------------------------------------------------------------------------------------- */}}

{{- define "secrets-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "secrets-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "secrets-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "secrets-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: csi-provider
app.kubernetes.io/part-of: secrets-store-csi-driver
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image --------------------------------------------------------------------------------------- */}}

{{- define "secrets-gateway.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* Plugins ------------------------------------------------------------------------------------- */}}

{{/* The --plugins allow-list: enabled built-in plugins (fixed order) then extraPlugins. */}}
{{- define "secrets-gateway.pluginList" -}}
{{- $names := list -}}
{{- range $name := list "aws" "vault" "fake" -}}
{{- if (index $.Values.plugins $name).enabled -}}
{{- $names = append $names $name -}}
{{- end -}}
{{- end -}}
{{- range $.Values.extraPlugins -}}
{{- $names = append $names . -}}
{{- end -}}
{{- join "," (uniq $names) -}}
{{- end -}}

{{/* Service-account token audiences the CSI driver must request for the enabled plugins. */}}
{{- define "secrets-gateway.tokenAudiences" -}}
{{- $audiences := list -}}
{{- if .Values.plugins.aws.enabled -}}
{{- $audiences = append $audiences "sts.amazonaws.com" -}}
{{- $audiences = append $audiences "pods.eks.amazonaws.com" -}}
{{- end -}}
{{- if and .Values.plugins.vault.enabled .Values.plugins.vault.audience -}}
{{- $audiences = append $audiences .Values.plugins.vault.audience -}}
{{- end -}}
{{- range .Values.extraTokenAudiences -}}
{{- $audiences = append $audiences . -}}
{{- end -}}
{{- join "," (uniq $audiences) -}}
{{- end -}}

{{/* "true" when the ServiceAccount needs ClusterRole rules. */}}
{{- define "secrets-gateway.needsClusterRole" -}}
{{- if or .Values.plugins.aws.enabled .Values.rbac.tokenReview .Values.rbac.extraRules (include "secrets-gateway.vaultTokenRequest" .) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the vault plugin requests pod tokens itself (TokenRequest). */}}
{{- define "secrets-gateway.vaultTokenRequest" -}}
{{- if and .Values.plugins.vault.enabled .Values.plugins.vault.tokenRequest -}}true{{- end -}}
{{- end -}}

{{/* "true" when the vault plugin keeps its HMAC key in a Secret (a namespaced Role). */}}
{{- define "secrets-gateway.vaultHmacSecret" -}}
{{- if and .Values.plugins.vault.enabled .Values.plugins.vault.hmacSecretName -}}true{{- end -}}
{{- end -}}

{{/* "true" when the pod gets a Kubernetes API token. */}}
{{- define "secrets-gateway.automountToken" -}}
{{- if kindIs "bool" .Values.serviceAccount.automountToken -}}
{{- .Values.serviceAccount.automountToken -}}
{{- else -}}
{{- or (include "secrets-gateway.needsClusterRole" . | eq "true") (include "secrets-gateway.vaultHmacSecret" . | eq "true") -}}
{{- end -}}
{{- end -}}

{{/* A scalar as text; whole numbers without exponent (YAML numbers arrive as float64: 4194304, not 4.194304e+06). */}}
{{- define "secrets-gateway.str" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- printf "%d" (int64 .) -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* Renders a map of flags (name without "--") as container args "--name=value"; booleans as
"--name=true" / "--name=false" (a bare "--name" is refused by flags that take a value, and dropping
false would silently keep the flag's default). */}}
{{- define "secrets-gateway.flagArgs" -}}
{{- range $name, $value := . }}
- {{ printf "--%s=%s" $name (include "secrets-gateway.str" $value) | quote }}
{{- end }}
{{- end -}}

{{/* The pod affinity: .Values.affinity, with every required node-selector term excluding EKS Fargate
nodes (DaemonSets cannot run there) unless the term already decides about eks.amazonaws.com/compute-type. */}}
{{- define "secrets-gateway.affinity" -}}
{{- $affinity := deepCopy (.Values.affinity | default dict) -}}
{{- if .Values.excludeFargate -}}
{{- $label := "eks.amazonaws.com/compute-type" -}}
{{- $fargate := dict "key" $label "operator" "NotIn" "values" (list "fargate") -}}
{{- $node := $affinity.nodeAffinity | default dict -}}
{{- $required := index $node "requiredDuringSchedulingIgnoredDuringExecution" | default dict -}}
{{- $terms := list -}}
{{- range $required.nodeSelectorTerms | default (list dict) -}}
{{- $expressions := .matchExpressions | default list -}}
{{- $decided := false -}}
{{- range $expressions }}{{ if eq .key $label }}{{ $decided = true }}{{ end }}{{ end -}}
{{- if not $decided }}{{ $expressions = append $expressions $fargate }}{{ end -}}
{{- $terms = append $terms (merge (dict "matchExpressions" $expressions) .) -}}
{{- end -}}
{{- $_ := set $required "nodeSelectorTerms" $terms -}}
{{- $_ = set $node "requiredDuringSchedulingIgnoredDuringExecution" $required -}}
{{- $_ = set $affinity "nodeAffinity" $node -}}
{{- end -}}
{{- with $affinity }}{{ toYaml . }}{{ end -}}
{{- end -}}

{{/* Renders a map of environment variables. */}}
{{- define "secrets-gateway.envMap" -}}
{{- range $name, $value := . }}
- name: {{ $name }}
  value: {{ include "secrets-gateway.str" $value | quote }}
{{- end }}
{{- end -}}

{{/* Checks that the schema cannot express ------------------------------------------------------- */}}

{{- define "secrets-gateway.validate" -}}
{{- if not (include "secrets-gateway.pluginList" .) -}}
{{- fail "no plugin enabled: set plugins.aws.enabled, plugins.vault.enabled or plugins.fake.enabled (or extraPlugins)" -}}
{{- end -}}
{{- $sc := .Values.securityContext -}}
{{- if and $sc.runAsNonRoot (kindIs "float64" $sc.runAsUser) (eq (int $sc.runAsUser) 0) -}}
{{- fail "securityContext.runAsNonRoot=true contradicts runAsUser=0: set runAsUser to a non-zero UID (or null for the image's user 10001)" -}}
{{- end -}}
{{- if .Values.prepareProvidersDir.enabled -}}
{{- if has (clean .Values.providersDir) (list "/var/run/secrets-store-csi-providers" "/etc/kubernetes/secrets-store-csi-providers") -}}
{{- fail (printf "prepareProvidersDir would chown the shared directory %s that other providers use: set providersDir to a dedicated directory (and add it to the driver chart's linux.additionalProvidersDirs)" .Values.providersDir) -}}
{{- end -}}
{{- if or (not (kindIs "float64" $sc.runAsUser)) (eq (int $sc.runAsUser) 0) -}}
{{- fail "prepareProvidersDir needs securityContext.runAsUser set to the non-root UID that should own providersDir" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.plugins.vault.caCert.secretName .Values.plugins.vault.caCert.configMapName -}}
{{- fail "plugins.vault.caCert: set secretName or configMapName, not both" -}}
{{- end -}}
{{- if and .Values.plugins.fake.existingConfigMap .Values.plugins.fake.store -}}
{{- fail "plugins.fake: set store or existingConfigMap, not both" -}}
{{- end -}}
{{- if and (eq .Values.dnsPolicy "None") (not (.Values.dnsConfig | default dict).nameservers) -}}
{{- fail "dnsPolicy: None needs dnsConfig.nameservers (the pod would have no resolver for the backend endpoints)" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.http.enabled) -}}
{{- fail "serviceMonitor.enabled needs http.enabled (the metrics are served on the HTTP port)" -}}
{{- end -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (float64 .Values.settings.gracePeriod) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be greater than settings.gracePeriod (%v) so in-flight mounts can finish" .Values.terminationGracePeriodSeconds .Values.settings.gracePeriod) -}}
{{- end -}}
{{- end -}}

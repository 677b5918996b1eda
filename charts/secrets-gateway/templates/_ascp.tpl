{{/*
Values of the AWS provider's chart (ASCP, secrets-store-csi-driver-provider-aws), so an ASCP values
file can be passed unchanged. docs/migrate-from-ascp.md has the map; tests/chart/test_ascp_values.py
renders this chart with an ASCP values file.

"secrets-gateway.ascpValues" rewrites .Values in place: each ASCP key that has a meaning here sets
the value of ours (refused when both are set and disagree); each key without one fails with the
reason. Every template includes it first; it is idempotent, so the order templates render in does
not matter. NOTES lists the ASCP keys used ("secrets-gateway.ascpNotes").
*/}}

{{/* ASCP key → what replaces it here (the deprecation notes). */}}
{{- define "secrets-gateway.ascpReplacements" -}}
awsRegion: plugins.aws.region
providerVolume: providersDir
useFipsEndpoint: plugins.aws.env.SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT
podIdentityHttpTimeout: plugins.aws.env.SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT (seconds)
k8sThrottlingParams: plugins.aws.kubeQPS and plugins.aws.kubeBurst
rbac.install: rbac.create and serviceAccount.create
rbac.serviceAccountName: serviceAccount.name
driverWritesSecrets: nothing (the driver always writes the files here)
secrets-store-csi-driver: nothing (install the driver with its own chart)
{{- end -}}

{{/* ASCP key → why it has no meaning here (the rendering fails with this text). */}}
{{- define "secrets-gateway.ascpRefusals" -}}
kubeletPath: the gateway never writes into pod volumes (the driver writes the files), so it mounts no kubelet directory; remove it
port: ASCP's chart renders nothing from it; the health and metrics port here is http.port
eksAddonVersion: it only tags ASCP's EKS add-on installation; remove it
{{- end -}}

{{- define "secrets-gateway.ascpValues" -}}
{{- $v := .Values -}}
{{- $guide := "see docs/migrate-from-ascp.md" -}}
{{- range $key, $reason := include "secrets-gateway.ascpRefusals" . | fromYaml -}}
{{- if hasKey $v $key -}}
{{- fail (printf "%s is a value of the AWS provider's chart (ASCP) with no meaning here: %s (%s)" $key $reason $guide) -}}
{{- end -}}
{{- end -}}
{{- if contains "secrets-store-csi-driver-provider-aws" $v.image.repository -}}
{{- fail (printf "image.repository %s is ASCP's image: this chart runs the secrets-gateway image; remove the image block or point it at yours (%s)" $v.image.repository $guide) -}}
{{- end -}}
{{- $driver := index $v "secrets-store-csi-driver" -}}
{{- if and $driver (ne (toString $driver.install) "false") -}}
{{- fail (printf "secrets-store-csi-driver.install: this chart does not install the Secrets Store CSI Driver (ASCP's does): install the driver with its own chart, then set secrets-store-csi-driver.install=false or remove the block (%s)" $guide) -}}
{{- end -}}
{{- $aws := $v.plugins.aws -}}
{{- with $v.providerVolume -}}
{{- if not (has $v.providersDir (list . "/var/run/secrets-store-csi-providers")) -}}
{{- fail (printf "providerVolume (ASCP) %s and providersDir %s disagree: set providersDir only (%s)" . $v.providersDir $guide) -}}
{{- end -}}
{{- $_ := set $v "providersDir" . -}}
{{- end -}}
{{- with $v.awsRegion -}}
{{- if and $aws.region (ne $aws.region .) -}}
{{- fail (printf "awsRegion (ASCP) %s and plugins.aws.region %s disagree: set plugins.aws.region only (%s)" . $aws.region $guide) -}}
{{- end -}}
{{- $_ := set $aws "region" . -}}
{{- end -}}
{{- $env := $aws.env | default dict -}}
{{- if $v.useFipsEndpoint -}}
{{- if not (hasKey $env "SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT") }}{{ $_ := set $env "SECRETS_GATEWAY_AWS_USE_FIPS_ENDPOINT" "true" }}{{ end -}}
{{- end -}}
{{- with $v.podIdentityHttpTimeout -}}
{{- $number := regexFind "^[0-9]*[.]?[0-9]+" . | float64 -}}
{{- $seconds := (hasSuffix "ms" .) | ternary (divf $number 1000) ((hasSuffix "m" .) | ternary (mulf $number 60) $number) -}}
{{- if not (hasKey $env "SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT") }}{{ $_ := set $env "SECRETS_GATEWAY_AWS_POD_IDENTITY_TIMEOUT" (include "secrets-gateway.str" $seconds) }}{{ end -}}
{{- end -}}
{{- $_ := set $aws "env" $env -}}
{{- with $v.k8sThrottlingParams -}}
{{- if and .qps (kindIs "invalid" $aws.kubeQPS) }}{{ $_ := set $aws "kubeQPS" (toString .qps) }}{{ end -}}
{{- if and .burst (kindIs "invalid" $aws.kubeBurst) }}{{ $_ := set $aws "kubeBurst" (int .burst) }}{{ end -}}
{{- end -}}
{{- if eq (toString $v.rbac.install) "false" -}}
{{- $_ := set $v.rbac "create" false -}}
{{- $_ = set $v.serviceAccount "create" false -}}
{{- end -}}
{{- with $v.rbac.serviceAccountName -}}
{{- if and $v.serviceAccount.name (ne $v.serviceAccount.name .) -}}
{{- fail (printf "rbac.serviceAccountName (ASCP) %s and serviceAccount.name %s disagree: set serviceAccount.name only (%s)" . $v.serviceAccount.name $guide) -}}
{{- end -}}
{{- $_ := set $v.serviceAccount "name" . -}}
{{- end -}}
{{- end -}}

{{/* The NOTES paragraph naming each ASCP key the values use and what replaces it. */}}
{{- define "secrets-gateway.ascpNotes" -}}
{{- $used := list -}}
{{- range $key, $replacement := include "secrets-gateway.ascpReplacements" . | fromYaml -}}
{{- $parts := splitList "." $key -}}
{{- $node := $.Values -}}
{{- range initial $parts }}{{ $node = index $node . | default dict }}{{ end -}}
{{- if not (kindIs "invalid" (index $node (last $parts))) -}}
{{- $used = append $used (printf "%s -> %s" $key $replacement) -}}
{{- end -}}
{{- end -}}
{{- if $used }}

DEPRECATED: these values come from the AWS provider's chart (ASCP). They still work, mapped as shown;
move to the values on the right (docs/migrate-from-ascp.md):
{{- range $used }}
     {{ . }}
{{- end }}
{{- end }}
{{- end -}}

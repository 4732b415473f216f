{{/*
Helpers of the pod-hardener chart. The objects themselves are generated from
manifests/ by hack/chart-sync (templates/generated/); these helpers supply
what the values change in them.
*/}}

{{/* Labels Helm adds to every object, next to the manifests' own. */}}
{{- define "pod-hardener.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/*
The data of ConfigMap pod-hardener-config: the manifests' config.yaml with
the release namespace for the manifests' own in skip_namespaces, `mode`, the
profile files of .Values.profiles, and .Values.config merged over it.
*/}}
{{- define "pod-hardener.configData" -}}
{{- $config := .Files.Get "files/config.yaml" | fromYaml | default dict -}}
{{- $skip := list -}}
{{- range ($config.skip_namespaces | default list) -}}
{{- $skip = append $skip (ternary $.Release.Namespace . (eq . "pod-hardener")) -}}
{{- end -}}
{{- if $config.skip_namespaces -}}
{{- $_ := set $config "skip_namespaces" $skip -}}
{{- end -}}
{{- if ne .Values.mode ($config.mode | default "enforce") -}}
{{- $_ := set $config "mode" .Values.mode -}}
{{- end -}}
{{- if .Values.profiles -}}
{{- $profiles := $config.profiles | default dict -}}
{{- $dir := "/etc/pod-hardener/profiles" -}}
{{- with $profiles.files }}{{ $dir = dir (first .) }}{{ end -}}
{{- $files := list -}}
{{- range $name := keys .Values.profiles | sortAlpha -}}
{{- $files = append $files (printf "%s/%s" $dir $name) -}}
{{- end -}}
{{- $_ := set $profiles "files" $files -}}
{{- $_ := set $config "profiles" $profiles -}}
{{- end -}}
{{- $config = mergeOverwrite $config (deepCopy .Values.config) -}}
{{- toYaml (dict "config.yaml" (toYaml $config)) -}}
{{- end -}}

{{/* The data of ConfigMap pod-hardener-profiles: .Values.profiles, or the manifests' file. */}}
{{- define "pod-hardener.profilesData" -}}
{{- if .Values.profiles -}}
{{- toYaml .Values.profiles -}}
{{- else -}}
{{- toYaml (dict "profiles.yaml" (.Files.Get "files/profiles.yaml")) -}}
{{- end -}}
{{- end -}}

{{/*
The chart-generated TLS material (when certManager.enabled is false), as a
map of the Secret's base64 data. Made once per render and kept in .Values so
that the Secret and the webhook's caBundle agree; on `helm upgrade` the
existing Secret is read back (lookup), so the CA survives upgrades.
*/}}
{{- define "pod-hardener.tls" -}}
{{- if not (hasKey .Values "_generatedTLS") -}}
{{- $tls := dict -}}
{{- $secret := lookup "v1" "Secret" .Release.Namespace "pod-hardener-tls" -}}
{{- $data := dict -}}
{{- if $secret }}{{ $data = $secret.data | default dict }}{{ end -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $tls = dict "ca.crt" (index $data "ca.crt") "tls.crt" (index $data "tls.crt") "tls.key" (index $data "tls.key") -}}
{{- else -}}
{{- $service := printf "pod-hardener.%s.svc" .Release.Namespace -}}
{{- $days := int .Values.generatedCertificateDays -}}
{{- $ca := genCA "pod-hardener-ca" $days -}}
{{- $cert := genSignedCert $service nil (list $service (printf "%s.cluster.local" $service)) $days $ca -}}
{{- $tls = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "_generatedTLS" $tls -}}
{{- end -}}
{{- toYaml (get .Values "_generatedTLS") -}}
{{- end -}}

{{/* The webhook's caBundle: empty with cert-manager (cainjector fills it in). */}}
{{- define "pod-hardener.caBundle" -}}
{{- if not .Values.certManager.enabled -}}
{{- index (include "pod-hardener.tls" . | fromYaml) "ca.crt" -}}
{{- end -}}
{{- end -}}

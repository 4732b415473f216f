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
The scope's skip_namespaces, written the way the webhook's environment layer
reads a list ("[a,b]"): .Values.skipNamespaces and the release namespace.
*/}}
{{- define "pod-hardener.skipNamespaces" -}}
{{- printf "[%s]" (append (.Values.skipNamespaces | default list) .Release.Namespace | uniq | join ",") -}}
{{- end -}}

{{/*
The pods the ResourceQuota lets run at system-cluster-critical: the most
replicas (HPA maximum when autoscaling) plus a rollout's surge and one spare.
*/}}
{{- define "pod-hardener.criticalPods" -}}
{{- add (ternary .Values.autoscaling.maxReplicas .Values.replicas .Values.autoscaling.enabled) 2 -}}
{{- end -}}

{{/*
The data of ConfigMap pod-hardener-config: the manifests' config.yaml with
the profile files of .Values.profiles and .Values.config merged over it.
What the ConfigMap pod-hardener-scope sets (mode, skip_namespaces,
allow_opt_out, rules.read_only_root, override_explicit_false) reaches the
webhook as environment variables, which override this file: the chart takes
those from their own values only, and refuses them under .Values.config.
*/}}
{{- define "pod-hardener.configData" -}}
{{- $config := .Files.Get "files/config.yaml" | fromYaml | default dict -}}
{{- $scope := dict "mode" "mode" "skip_namespaces" "skipNamespaces" "allow_opt_out" "allowOptOut" "override_explicit_false" "overrideExplicitFalse" -}}
{{- range $key, $value := $scope -}}
{{- if hasKey $.Values.config $key -}}
{{- fail (printf "config.%s is set by the ConfigMap pod-hardener-scope, which overrides the configuration file: use the value %s instead" $key $value) -}}
{{- end -}}
{{- end -}}
{{- if hasKey ($.Values.config.rules | default dict) "read_only_root" -}}
{{- fail "config.rules.read_only_root is set by the ConfigMap pod-hardener-scope, which overrides the configuration file: use the value rules.readOnlyRoot instead" -}}
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

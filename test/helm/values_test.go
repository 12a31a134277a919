package helm

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/devenv"
)

func TestChartValuesReachTheManager(t *testing.T) {
	g := NewWithT(t)
	objs := byKey(render(t,
		"--set", "image.digest=sha256:"+sixtyFourHex,
		"--set-json", `guard={"minBudget": 3, "percent": 2.5, "window": "30m", "severeReserve": 40}`,
		"--set", "decisionLog.enabled=true,decisionLog.includeInput=true",
		"--set", "manager.logLevel=debug,manager.grantWorkers=32,manager.policyTimeout=250ms",
		"--set", "policyData.configMap=reference,policyData.keys={hosting.yaml,travel.yaml}",
		"--set", "ingest.tlsSecret=ingest-tls,ingest.tokenSecret=pipeline-tokens",
		"--set", "geoip.enabled=true,geoip.volume.persistentVolumeClaim.claimName=geoip,geoip.anonymousDB=anon.mmdb",
		"--set", "manager.extraArgs={--finding-ttl=240h}"))
	c := container(t, objs)
	g.Expect(c["image"]).To(Equal("ghcr.io/portcullis-dev/portcullis@sha256:" + sixtyFourHex))
	g.Expect(args(t, objs)).To(ContainElements(
		"--guard-min-budget=3", "--guard-percent=2.5", "--guard-window=30m", "--guard-severe-reserve=40",
		"--decision-log=stdout", "--decision-log-input",
		"--zap-log-level=debug", "--grant-workers=32", "--policy-timeout=250ms",
		"--policy-data=/etc/portcullis/policy-data/hosting.yaml", "--policy-data=/etc/portcullis/policy-data/travel.yaml",
		"--ingest-token-secret="+namespace+"/pipeline-tokens",
		"--ingest-tls-cert-file=/var/run/portcullis/ingest-tls/tls.crt",
		"--geoip-country-db=/var/lib/portcullis/geoip/country.mmdb", "--geoip-anonymous-db=/var/lib/portcullis/geoip/anon.mmdb",
		`--finding-ttl=240h`))
	g.Expect(c["volumeMounts"]).To(HaveLen(3))
	raw, _ := yaml.Marshal(objs["Deployment "+namespace+"/portcullis-controller-manager"])
	g.Expect(string(raw)).To(ContainSubstring("claimName: geoip"))
	g.Expect(string(raw)).To(ContainSubstring("secretName: ingest-tls"))
}

// sixtyFourHex stands for an image digest.
const sixtyFourHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestChartOffSwitches(t *testing.T) {
	g := NewWithT(t)
	objs := byKey(render(t, "--set", "webhook.enabled=false,ingest.enabled=false,admissionPolicies.enabled=false",
		"--set", "networkPolicy.enabled=false,podDisruptionBudget.enabled=false,metrics.secure=false"))
	for _, gone := range []string{
		"ValidatingWebhookConfiguration /portcullis-validating-webhook-configuration",
		"Service " + namespace + "/portcullis-webhook-service",
		"Service " + namespace + "/portcullis-ingest",
		"Secret " + namespace + "/portcullis-webhook-server-cert",
		"ValidatingAdmissionPolicy /portcullis-accessgrant-requester",
		"NetworkPolicy " + namespace + "/portcullis-controller-manager",
		"PodDisruptionBudget " + namespace + "/portcullis-controller-manager",
	} {
		g.Expect(objs).NotTo(HaveKey(gone))
	}
	a := args(t, objs)
	g.Expect(a).To(ContainElement("--metrics-secure=false"))
	g.Expect(byKey(render(t, "--set", "replicaCount=1"))).NotTo(HaveKey("PodDisruptionBudget "+namespace+"/portcullis-controller-manager"),
		"one replica with minAvailable 1 would block every drain")
	g.Expect(a).NotTo(ContainElement(HavePrefix("--webhook-bind-address")))
	g.Expect(a).NotTo(ContainElement(HavePrefix("--ingest-bind-address")))
}

func TestChartWithCertManager(t *testing.T) {
	g := NewWithT(t)
	objs := byKey(render(t, "--set", "webhook.certManager.enabled=true"))
	g.Expect(objs).To(HaveKey("Issuer " + namespace + "/portcullis-selfsigned"))
	g.Expect(objs).To(HaveKey("Certificate " + namespace + "/portcullis-webhook-cert"))
	g.Expect(objs).NotTo(HaveKey("Secret " + namespace + "/portcullis-webhook-server-cert"))
	hook := objs["ValidatingWebhookConfiguration /portcullis-validating-webhook-configuration"]
	g.Expect(hook).To(HaveKeyWithValue("metadata", HaveKeyWithValue("annotations",
		HaveKeyWithValue("cert-manager.io/inject-ca-from", namespace+"/portcullis-webhook-cert"))))
	g.Expect(args(t, objs)).To(ContainElements("--webhook-manage-certs=false", "--webhook-cert-dir=/var/run/portcullis/webhook-certs"))

	objs = byKey(render(t, "--set", "webhook.certManager.enabled=true,webhook.certManager.issuerRef.kind=ClusterIssuer,webhook.certManager.issuerRef.name=corp-ca"))
	g.Expect(objs).NotTo(HaveKey("Issuer " + namespace + "/portcullis-selfsigned"))
	raw, _ := yaml.Marshal(objs["Certificate "+namespace+"/portcullis-webhook-cert"])
	g.Expect(string(raw)).To(ContainSubstring("name: corp-ca"))
}

// TestChartMonitoring: the chart's alerts are config/prometheus's, and the
// ServiceMonitor scrapes the metrics Service as configured.
func TestChartMonitoring(t *testing.T) {
	g := NewWithT(t)
	objs := byKey(render(t, "--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true",
		"--set", "metrics.prometheusRule.labels.release=kube-prometheus-stack"))
	g.Expect(objs).To(HaveKey("ServiceMonitor " + namespace + "/portcullis-metrics"))
	rule, ok := objs["PrometheusRule "+namespace+"/portcullis-alerts"]
	g.Expect(ok).To(BeTrue())
	raw, err := os.ReadFile(filepath.Join(configDir, "prometheus", "prometheusrule.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var want object
	g.Expect(yaml.Unmarshal(raw, &want)).To(Succeed())
	g.Expect(rule["spec"]).To(Equal(want["spec"]), "the chart's alerts are not config/prometheus's: run make manifests")
	g.Expect(rule).To(HaveKeyWithValue("metadata", HaveKeyWithValue("labels", HaveKeyWithValue("release", "kube-prometheus-stack"))))
}

// TestChartSharedSignals: the Shared Signals endpoint is off by default;
// on, it gets its flags, port, Service, NetworkPolicy port and TLS volume,
// and it refuses to render without a TLS Secret; the transmitter's values
// reach its flags.
func TestChartSharedSignals(t *testing.T) {
	const (
		service = "Service " + namespace + "/portcullis-ssf"
		policy  = "NetworkPolicy " + namespace + "/portcullis-controller-manager"
		role    = "Role " + namespace + "/portcullis-ssf-transmitter-role"
		binding = "RoleBinding " + namespace + "/portcullis-ssf-transmitter-rolebinding"
	)
	g := NewWithT(t)

	objs := byKey(render(t))
	g.Expect(objs).NotTo(HaveKey(service))
	g.Expect(objs).NotTo(HaveKey(role), "the transmitter's Secrets Role without the transmitter")
	g.Expect(args(t, objs)).NotTo(ContainElement(HavePrefix("--ssf-")))
	raw, _ := yaml.Marshal(objs["Deployment "+namespace+"/portcullis-controller-manager"])
	g.Expect(string(raw)).NotTo(ContainSubstring("ssf"))
	raw, _ = yaml.Marshal(objs[policy])
	g.Expect(string(raw)).NotTo(ContainSubstring("ssf"))

	_, err := helm(t, "template", "portcullis", chart, "--kube-version", devenv.KubernetesVersion, "--set", "ssf.enabled=true")
	g.Expect(err).To(MatchError(ContainSubstring("ssf.enabled needs ssf.tlsSecret")))

	objs = byKey(render(t, "--set", "ssf.enabled=true,ssf.tlsSecret=ssf-tls",
		"--set", "ssf.service.type=LoadBalancer,ssf.service.annotations.team=identity"))
	a := args(t, objs)
	g.Expect(a).To(ContainElements("--ssf-bind-address=:8445",
		"--ssf-tls-cert-file=/var/run/portcullis/ssf-tls/tls.crt", "--ssf-tls-key-file=/var/run/portcullis/ssf-tls/tls.key"))
	g.Expect(a).NotTo(ContainElement(HavePrefix("--ssf-issuer")), "no issuer, no transmitter")
	g.Expect(objs).NotTo(HaveKey(role), "the transmitter's Secrets Role without the transmitter")
	g.Expect(a).NotTo(ContainElement(HavePrefix("--ssf-receiver-url")))
	c := container(t, objs)
	g.Expect(c["ports"]).To(ContainElement(Equal(map[string]any{"name": "ssf", "containerPort": float64(8445)})))
	g.Expect(c["volumeMounts"]).To(ContainElement(Equal(map[string]any{
		"name": "ssf-tls", "mountPath": "/var/run/portcullis/ssf-tls", "readOnly": true})))
	raw, _ = yaml.Marshal(objs["Deployment "+namespace+"/portcullis-controller-manager"])
	g.Expect(string(raw)).To(ContainSubstring("secretName: ssf-tls"))
	g.Expect(string(raw)).NotTo(ContainSubstring("ssf-receiver-ca"))
	g.Expect(objs).To(HaveKey(service))
	svc, _ := yaml.Marshal(objs[service])
	g.Expect(string(svc)).To(And(ContainSubstring("type: LoadBalancer"), ContainSubstring("team: identity"),
		ContainSubstring("port: 8445"), ContainSubstring("targetPort: ssf")))
	raw, _ = yaml.Marshal(objs[policy])
	g.Expect(string(raw)).To(ContainSubstring("port: ssf"))

	objs = byKey(render(t, "--set", "ssf.enabled=true,ssf.tlsSecret=ssf-tls,ssf.port=9445",
		"--set", "ssf.receiverURL=https://ssf.example.com,ssf.transmitter.issuer=https://portcullis.example.com",
		"--set", "ssf.transmitter.signingKeySecret=signing,ssf.transmitter.receiverTokenSecret=receivers",
		"--set", "ssf.transmitter.receiverCAConfigMap=receiver-ca,ssf.transmitter.allowPrivateReceivers=true"))
	g.Expect(args(t, objs)).To(ContainElements("--ssf-bind-address=:9445",
		"--ssf-receiver-url=https://ssf.example.com", "--ssf-issuer=https://portcullis.example.com",
		"--ssf-signing-key-secret="+namespace+"/signing", "--ssf-receiver-token-secret="+namespace+"/receivers",
		"--ssf-receiver-ca-file=/var/run/portcullis/ssf-receiver-ca/ca.crt", "--ssf-allow-private-receivers"))
	g.Expect(objs).To(HaveKey(role))
	g.Expect(objs).To(HaveKey(binding))
	rules, _ := yaml.Marshal(objs[role])
	g.Expect(string(rules)).To(And(ContainSubstring("- secrets"), ContainSubstring("- list"), ContainSubstring("- create")))
	g.Expect(container(t, objs)["volumeMounts"]).To(ContainElement(Equal(map[string]any{
		"name": "ssf-receiver-ca", "mountPath": "/var/run/portcullis/ssf-receiver-ca", "readOnly": true})))
	raw, _ = yaml.Marshal(objs["Deployment "+namespace+"/portcullis-controller-manager"])
	g.Expect(string(raw)).To(ContainSubstring("name: receiver-ca"))

	g.Expect(args(t, byKey(render(t, "--set", "ssf.enabled=true,ssf.tlsSecret=ssf-tls,ssf.transmitter.issuer=https://portcullis.example.com")))).
		To(ContainElements("--ssf-signing-key-secret="+namespace+"/portcullis-ssf-signing-keys",
			"--ssf-receiver-token-secret="+namespace+"/portcullis-ssf-receivers"))
}

func TestChartShards(t *testing.T) {
	const shards = `[{"name": "eu", "namespaceSelector": "portcullis.dev/shard=eu", "clusterSelector": "portcullis.dev/shard!=us"},
		{"name": "us", "namespaceSelector": "portcullis.dev/shard=us", "clusterSelector": "portcullis.dev/shard=us"}]`
	g := NewWithT(t)
	objs := byKey(render(t, "--set-json", "shards="+shards))
	g.Expect(objs).NotTo(HaveKey("Deployment " + namespace + "/portcullis-controller-manager"))
	g.Expect(argsOf(t, objs, "portcullis-controller-manager-eu")).To(ContainElements("--shard=eu",
		"--shard-namespace-selector=portcullis.dev/shard=eu", "--shard-cluster-selector=portcullis.dev/shard!=us",
		"--webhook-bind-address=:9443", "--ingest-bind-address=:8082"))
	g.Expect(argsOf(t, objs, "portcullis-controller-manager-us")).To(ContainElements("--shard=us",
		"--shard-namespace-selector=portcullis.dev/shard=us", "--shard-cluster-selector=portcullis.dev/shard=us",
		"--webhook-bind-address=:9443"), "every shard serves the webhook, so that one restarting blocks no apply")
	for _, shard := range []string{"eu", "us"} {
		for _, k := range []string{"Deployment", "PodDisruptionBudget"} {
			raw, _ := yaml.Marshal(objs[k+" "+namespace+"/portcullis-controller-manager-"+shard])
			g.Expect(string(raw)).To(ContainSubstring("portcullis.dev/shard: "+shard), "%s of shard %s", k, shard)
		}
		raw, _ := yaml.Marshal(objs["Service "+namespace+"/portcullis-ingest-"+shard])
		g.Expect(string(raw)).To(ContainSubstring("portcullis.dev/shard: "+shard), "each shard ingests its own contractors' sign-ins")
	}
	g.Expect(objs).NotTo(HaveKey("Service " + namespace + "/portcullis-ingest"))
	raw, _ := yaml.Marshal(objs["Service "+namespace+"/portcullis-webhook-service"])
	g.Expect(string(raw)).NotTo(ContainSubstring("portcullis.dev/shard"), "the webhook Service reaches every shard")

	for set, want := range map[string]string{
		`shards=[{"name": "eu", "namespaceSelector": "a=b", "clusterSelector": "c=d"}, {"name": "eu", "namespaceSelector": "a=c", "clusterSelector": "c=e"}]`: "eu is named twice",
		`shards=[{"name": "eu", "namespaceSelector": "a=b"}, {"name": "us", "namespaceSelector": "a=c", "clusterSelector": "c=e"}]`:                           "eu needs a clusterSelector",
	} {
		_, err := helm(t, "template", "portcullis", chart, "--kube-version", devenv.KubernetesVersion, "--set-json", set)
		g.Expect(err).To(MatchError(ContainSubstring(want)), set)
	}
	g.Expect(byKey(render(t, "--set-json", `shards=[{"name": "all", "namespaceSelector": "a=b"}]`))).
		To(HaveKey("Deployment "+namespace+"/portcullis-controller-manager-all"), "one shard may own every cluster object")

	_, err := helm(t, "template", "portcullis", chart, "--kube-version", devenv.KubernetesVersion,
		"--set-json", "shards="+shards, "--set", "ssf.enabled=true,ssf.tlsSecret=ssf-tls")
	g.Expect(err).To(MatchError(ContainSubstring("shards and ssf.enabled")))
}

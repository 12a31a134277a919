// Package helm tests charts/portcullis with the Helm CLI that `make helm`
// builds: lint, its values schema, that its default rendering is
// config/default object for object, what each value turns on, and an
// install, upgrade and uninstall against a real API server.
package helm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/portcullis-dev/portcullis/internal/devenv"
)

var (
	chart     = filepath.Join("..", "..", "charts", "portcullis")
	configDir = filepath.Join("..", "..", "config")
)

const namespace = "portcullis-system"

// helmBinary is the CLI make exports as $HELM.
func helmBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("HELM")
	if bin == "" {
		t.Fatal("HELM is not set: run the tests with `make test`, or `make helm` and export HELM=bin/helm-<version>")
	}
	if !filepath.IsAbs(bin) {
		bin = filepath.Join("..", "..", bin)
	}
	return bin
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBinary(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// object is one rendered manifest.
type object = map[string]any

func decode(t *testing.T, manifests string) []object {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	var objs []object
	for {
		var o object
		if err := dec.Decode(&o); err != nil {
			if errors.Is(err, io.EOF) {
				return objs
			}
			t.Fatalf("decoding: %v", err)
		}
		if len(o) > 0 {
			objs = append(objs, o)
		}
	}
}

// render runs helm template with the CRDs, in the namespace config/default
// uses.
func render(t *testing.T, args ...string) []object {
	t.Helper()
	out, err := helm(t, append([]string{"template", "portcullis", chart, "--namespace", namespace, "--include-crds",
		"--kube-version", devenv.KubernetesVersion}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, out)
}

func key(o object) string {
	meta, _ := o["metadata"].(map[string]any)
	ns, _ := meta["namespace"].(string)
	return fmt.Sprintf("%s %s/%s", o["kind"], ns, meta["name"])
}

func byKey(objs []object) map[string]object {
	m := make(map[string]object, len(objs))
	for _, o := range objs {
		m[key(o)] = o
	}
	return m
}

func keys(m map[string]object) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// helmLabels are the labels the chart adds and config/default has not.
var helmLabels = []string{"app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"}

func withoutHelmLabels(o object) object {
	meta, _ := o["metadata"].(map[string]any)
	if labels, ok := meta["labels"].(map[string]any); ok {
		for _, l := range helmLabels {
			delete(labels, l)
		}
	}
	return o
}

func TestChartLints(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chart); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestChartIsConfigDefault renders the chart with its default values and
// compares it with `kubectl kustomize config/default`, object by object:
// the same kinds and names, and the same content but for the chart's own
// labels. The Namespace is Helm's (--create-namespace).
func TestChartIsConfigDefault(t *testing.T) {
	raw, err := exec.Command("kubectl", "kustomize", filepath.Join(configDir, "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	want := byKey(decode(t, string(raw)))
	delete(want, "Namespace /"+namespace)
	got := byKey(render(t, "--set", "image.tag=latest", "--api-versions", mutatingPolicyAPI))
	if diff := cmp.Diff(keys(want), keys(got)); diff != "" {
		t.Fatalf("the chart and config/default hold different objects (-config/default +chart):\n%s", diff)
	}
	for k, w := range want {
		if diff := cmp.Diff(w, withoutHelmLabels(got[k])); diff != "" {
			t.Errorf("%s differs (-config/default +chart):\n%s", k, diff)
		}
	}
}

// mutatingPolicyAPI is what a cluster that serves MutatingAdmissionPolicy
// (Kubernetes 1.36 and later) tells Helm.
const mutatingPolicyAPI = "admissionregistration.k8s.io/v1/MutatingAdmissionPolicy"

// The grants' finalizer policy is installed only where the cluster serves
// its kind: elsewhere it would fail the whole install, and the controller
// adds the finalizer itself.
func TestChartMutatingPolicyOnlyWhereServed(t *testing.T) {
	const policy = "MutatingAdmissionPolicy " + namespace + "/portcullis-accessgrant-finalizer"
	if objs := byKey(render(t)); len(objs) == 0 || objs[policy] != nil {
		t.Errorf("rendered %s for a cluster that does not serve it", policy)
	}
	if objs := byKey(render(t, "--api-versions", mutatingPolicyAPI)); objs[policy] == nil {
		t.Errorf("no %s for a cluster that serves it", policy)
	}
	if objs := byKey(render(t, "--api-versions", mutatingPolicyAPI, "--set", "admissionPolicies.enabled=false")); objs[policy] != nil {
		t.Errorf("%s with admissionPolicies.enabled=false", policy)
	}
}

func TestChartValuesSchemaRefuses(t *testing.T) {
	for _, tc := range []struct {
		set, want string
	}{
		{"replicaCount=two", "/replicaCount"},
		{"replicaCount=0", "/replicaCount"},
		{"bogus=1", "'bogus' not allowed"},
		{"image.digest=latest", "/image/digest"},
		{"manager.extraArgs={rm -rf /}", "/manager/extraArgs/0"},
		{"guard.percent=150", "/guard/percent"},
		{"manager.policyTimeout=soon", "/manager/policyTimeout"},
		{"webhook.port=70000", "/webhook/port"},
		{"geoip.enabled=true", "/geoip/volume"},
		{"geoip.enabled=true,geoip.volume.emptyDir.medium=Memory,geoip.countryDB=../../etc/passwd", "/geoip/countryDB"},
		{"policyData.configMap=reference", "/policyData/keys"},
		{"ssf.port=0", "/ssf/port"},
		{"ssf.receiverURL=http://ssf.example.com", "/ssf/receiverURL"},
		{"ssf.transmitter.issuer=https://portcullis.example.com/", "/ssf/transmitter/issuer"},
		{"ssf.transmitter.signingKeySecret=other-namespace/keys", "/ssf/transmitter/signingKeySecret"},
		{"ssf.transmitter.bogus=1", "'bogus' not allowed"},
		{"shards[0].name=EU,shards[0].namespaceSelector=a=b", "/shards/0/name"},
		{"shards[0].name=eu", "/shards/0"},
	} {
		_, err := helm(t, "template", "portcullis", chart, "--kube-version", devenv.KubernetesVersion, "--set", tc.set)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("--set %s: %v, want a schema error at %s", tc.set, err, tc.want)
		}
	}
}

// container returns the manager container of the rendered Deployment.
func container(t *testing.T, objs map[string]object) map[string]any {
	t.Helper()
	return containerOf(t, objs, "portcullis-controller-manager")
}

// containerOf returns the manager container of the Deployment called name.
func containerOf(t *testing.T, objs map[string]object, name string) map[string]any {
	t.Helper()
	d, ok := objs["Deployment "+namespace+"/"+name]
	if !ok {
		t.Fatalf("no Deployment %s", name)
	}
	raw, _ := yaml.Marshal(d)
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []map[string]any `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &dep); err != nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("the Deployment's containers: %v", err)
	}
	return dep.Spec.Template.Spec.Containers[0]
}

func args(t *testing.T, objs map[string]object) []string {
	t.Helper()
	return argsOf(t, objs, "portcullis-controller-manager")
}

// argsOf returns the manager's arguments in the Deployment called name.
func argsOf(t *testing.T, objs map[string]object, name string) []string {
	t.Helper()
	var out []string
	for _, a := range containerOf(t, objs, name)["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

package controllers_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("CustomResourceDefinitions", func() {
	It("installs all eight kinds, established, in the portcullis category", func(ctx SpecContext) {
		c := crdClient()
		kinds := map[string]apiextensionsv1.ResourceScope{
			"contractors":      apiextensionsv1.NamespaceScoped,
			"accessgrants":     apiextensionsv1.NamespaceScoped,
			"accesspolicies":   apiextensionsv1.ClusterScoped,
			"connectedsystems": apiextensionsv1.ClusterScoped,
			"findings":         apiextensionsv1.NamespaceScoped,
			"policyexceptions": apiextensionsv1.NamespaceScoped,
			"signinsources":    apiextensionsv1.ClusterScoped,
			"signalstreams":    apiextensionsv1.ClusterScoped,
		}
		for plural, scope := range kinds {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			Expect(c.Get(ctx, client.ObjectKey{Name: plural + ".access.portcullis.dev"}, crd)).To(Succeed())
			Expect(crd.Spec.Scope).To(Equal(scope), plural)
			Expect(crd.Spec.Names.Categories).To(ContainElement("portcullis"), plural)
			Expect(crd.Spec.Names.ShortNames).NotTo(BeEmpty(), plural)
			Expect(crd.Spec.Versions).To(HaveLen(1))
			version := crd.Spec.Versions[0]
			Expect(version.Subresources.Status).NotTo(BeNil(), plural)
			Expect(version.AdditionalPrinterColumns).NotTo(BeEmpty(), plural)
			Expect(established(crd)).To(BeTrue(), plural)
		}
	})

	It("documents every field, so kubectl explain has something to say", func(ctx SpecContext) {
		c := crdClient()
		list := &apiextensionsv1.CustomResourceDefinitionList{}
		Expect(c.List(ctx, list)).To(Succeed())
		var undocumented []string
		for _, crd := range list.Items {
			if crd.Spec.Group != "access.portcullis.dev" {
				continue
			}
			schema := crd.Spec.Versions[0].Schema.OpenAPIV3Schema
			for name, prop := range schema.Properties {
				if name == "apiVersion" || name == "kind" || name == "metadata" {
					continue
				}
				undocumented = append(undocumented, missingDescriptions(crd.Spec.Names.Kind+"."+name, prop)...)
			}
		}
		Expect(undocumented).To(BeEmpty())
	})
})

// crdClient reads CRDs with a scheme of its own: adding the CRD types to
// client-go's global scheme would race with the manager's event recorder.
func crdClient() client.Client {
	s := runtime.NewScheme()
	Expect(apiextensionsv1.AddToScheme(s)).To(Succeed())
	c, err := client.New(cfg, client.Options{Scheme: s})
	Expect(err).NotTo(HaveOccurred())
	return c
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true
		}
	}
	return false
}

// missingDescriptions lists the paths below prop that have no description.
func missingDescriptions(path string, prop apiextensionsv1.JSONSchemaProps) []string {
	var missing []string
	if strings.TrimSpace(prop.Description) == "" {
		missing = append(missing, path)
	}
	for name, child := range prop.Properties {
		missing = append(missing, missingDescriptions(path+"."+name, child)...)
	}
	if prop.Items != nil && prop.Items.Schema != nil {
		for name, child := range prop.Items.Schema.Properties {
			missing = append(missing, missingDescriptions(path+"[]."+name, child)...)
		}
	}
	return missing
}

package admission

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	webhookconfig "github.com/portcullis-dev/portcullis/config/webhook"
)

// LocalConfiguration returns the ValidatingWebhookConfiguration of
// config/webhook, named name, calling the webhook at baseURL (such as
// https://localhost:9443) instead of through a Service: for `portcullis
// dev` and the tests, where the API server and the manager share a host.
// Its caBundle is left for Certs to inject.
func LocalConfiguration(name, baseURL string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := yaml.UnmarshalStrict(webhookconfig.Manifests, cfg); err != nil {
		return nil, fmt.Errorf("decoding config/webhook/manifests.yaml: %w", err)
	}
	cfg.Name = name
	for i := range cfg.Webhooks {
		svc := cfg.Webhooks[i].ClientConfig.Service
		if svc == nil || svc.Path == nil {
			return nil, fmt.Errorf("webhook %s of config/webhook names no service path", cfg.Webhooks[i].Name)
		}
		url := baseURL + *svc.Path
		cfg.Webhooks[i].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	}
	return cfg, nil
}

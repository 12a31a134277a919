package main

import (
	"context"
	"fmt"
	"net"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/portcullis-dev/portcullis/internal/admission"
	"github.com/portcullis-dev/portcullis/internal/devenv"
	"github.com/portcullis-dev/portcullis/internal/manager"
)

// devWebhookHost is the name the API server calls the dev webhook by; the
// manager's certificate is for it too.
const devWebhookHost = "localhost"

// prepareWebhook registers the manager's validating webhook with the local
// API server, by URL since there is no Service to go through, and creates
// the empty Secret the manager keeps its certificate in. The manager
// injects the CA; until then, and until it serves, applies of policies and
// exceptions are refused, which applyWaiting waits out.
func prepareWebhook(ctx context.Context, env *devenv.Env, o manager.WebhookOptions, namespace string) error {
	if o.Addr == "" || o.Addr == "0" {
		return nil
	}
	_, port, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return fmt.Errorf("--webhook-bind-address %q: %w", o.Addr, err)
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: o.Secret}}
	if err := c.Create(ctx, secret); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating the webhook Secret %s/%s: %w", namespace, o.Secret, err)
	}
	cfg, err := admission.LocalConfiguration(o.Configuration, "https://"+net.JoinHostPort(devWebhookHost, port))
	if err != nil {
		return err
	}
	// A configuration left by a run with a kept data directory may point
	// at another port: replace it.
	if err := deleteWebhook(ctx, c, o.Configuration); err != nil {
		return err
	}
	if err := c.Create(ctx, cfg); err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	return nil
}

// removeWebhook deletes the dev webhook's registration when dev stops, so
// that the next start can apply the library before its manager serves.
func removeWebhook(env *devenv.Env, o manager.WebhookOptions) error {
	if o.Addr == "" || o.Addr == "0" {
		return nil
	}
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		return fmt.Errorf("creating client: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return deleteWebhook(ctx, c, o.Configuration)
}

func deleteWebhook(ctx context.Context, c client.Client, name string) error {
	err := c.Delete(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting ValidatingWebhookConfiguration %s: %w", name, err)
	}
	return nil
}

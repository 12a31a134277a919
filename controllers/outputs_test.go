package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/portcullis-dev/portcullis/api/v1alpha1"
)

// outputs keeps everything the controllers said during the suite, where a
// person or a log pipeline could read it: the manager's log lines, every
// Event and every status the Portcullis kinds went through. The suite ends
// by looking for the secrets the specs used in all of it.
type outputs struct {
	mu      sync.Mutex
	text    bytes.Buffer
	secrets []string
}

var said = &outputs{}

// Write takes log lines.
func (o *outputs) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.text.Write(p)
}

func (o *outputs) add(v any) {
	raw, err := yaml.Marshal(v)
	if err != nil {
		return
	}
	_, _ = o.Write(raw)
}

// secretUsed records v as a secret that must never be said, and returns it.
func secretUsed(v string) []byte {
	said.mu.Lock()
	defer said.mu.Unlock()
	said.secrets = append(said.secrets, v)
	return []byte(v)
}

// leaked returns the recorded secrets found in what was said.
func (o *outputs) leaked() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var found []string
	for _, s := range o.secrets {
		if bytes.Contains(o.text.Bytes(), []byte(s)) {
			found = append(found, s)
		}
	}
	return found
}

// size is how many bytes were said.
func (o *outputs) size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.text.Len()
}

// watchOutputs records every Event and every status of the Portcullis kinds
// until ctx ends.
func watchOutputs(ctx context.Context, cfg *rest.Config) {
	c, err := cache.New(cfg, cache.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	record := func(obj any) {
		switch o := obj.(type) {
		case *eventsv1.Event:
			said.add([]string{o.Reason, o.Note})
		case *corev1.Event:
			said.add([]string{o.Reason, o.Message})
		case *accessv1alpha1.AccessGrant:
			said.add(o.Status)
		case *accessv1alpha1.AccessPolicy:
			said.add(o.Status)
		case *accessv1alpha1.ConnectedSystem:
			said.add(o.Status)
		case *accessv1alpha1.Contractor:
			said.add(o.Status)
		case *accessv1alpha1.Finding:
			said.add(o.Status)
		case *accessv1alpha1.PolicyException:
			said.add(o.Status)
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    record,
		UpdateFunc: func(_, obj any) { record(obj) },
	}
	for _, obj := range []client.Object{&eventsv1.Event{}, &corev1.Event{}, &accessv1alpha1.AccessGrant{},
		&accessv1alpha1.AccessPolicy{}, &accessv1alpha1.ConnectedSystem{}, &accessv1alpha1.Contractor{},
		&accessv1alpha1.Finding{}, &accessv1alpha1.PolicyException{}} {
		informer, err := c.GetInformer(ctx, obj)
		Expect(err).NotTo(HaveOccurred(), fmt.Sprintf("%T", obj))
		_, err = informer.AddEventHandler(handler)
		Expect(err).NotTo(HaveOccurred())
	}
	go func() { _ = c.Start(ctx) }()
	Expect(c.WaitForCacheSync(ctx)).To(BeTrue())
}

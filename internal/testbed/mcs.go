package testbed

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	mcscrd "sigs.k8s.io/mcs-api/config/crd"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// MCS installs the Multi-Cluster Services CRDs of sigs.k8s.io/mcs-api (the
// module's embedded config/crd: ServiceImport and ServiceExport) and waits
// until the API server serves ServiceImports. alphaOnly installs the
// ServiceImport CRD serving (and storing) v1alpha1 alone, as before mcs-api
// v0.3. It returns a client of the MCS API.
func (c *Cluster) MCS(t TB, alphaOnly bool) mcsclient.Interface {
	t.Helper()
	rc := c.RestConfig(UserAdmin)
	dyn := dynamic.NewForConfigOrDie(rc)
	for _, raw := range [][]byte{mcscrd.ServiceImportCRD, mcscrd.ServiceExportCRD} {
		for _, u := range DecodeYAML(raw) {
			if alphaOnly && u.GetName() == "serviceimports.multicluster.x-k8s.io" {
				alphaOnlyCRD(t, u)
			}
			if _, err := dyn.Resource(crdResource).Create(context.Background(), u, meta.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("create CRD %s: %v", u.GetName(), err)
			}
		}
	}
	mcs := mcsclient.NewForConfigOrDie(rc)
	want := "multicluster.x-k8s.io/v1beta1"
	if alphaOnly {
		want = "multicluster.x-k8s.io/v1alpha1"
	}
	Eventually(t, 30*time.Second, "ServiceImports served", func() error {
		l, err := c.Client.Discovery().ServerResourcesForGroupVersion(want)
		if err != nil {
			return err
		}
		for _, r := range l.APIResources {
			if r.Name == "serviceimports" {
				return nil
			}
		}
		return fmt.Errorf("%s serves no serviceimports yet", want)
	})
	return mcs
}

// alphaOnlyCRD drops every version of a CRD but v1alpha1, which it stores.
func alphaOnlyCRD(t TB, u *unstructured.Unstructured) {
	versions, _, err := unstructured.NestedSlice(u.Object, "spec", "versions")
	if err != nil {
		t.Fatal(err)
	}
	var keep []any
	for _, v := range versions {
		m := v.(map[string]any)
		if m["name"] == "v1alpha1" {
			m["served"], m["storage"] = true, true
			keep = append(keep, m)
		}
	}
	if err := unstructured.SetNestedSlice(u.Object, keep, "spec", "versions"); err != nil {
		t.Fatal(err)
	}
}

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

// ClusterProperty installs the About API's ClusterProperty CRD
// (about.k8s.io/v1alpha1, cluster-scoped, KEP-2149: spec.value) and sets
// the property name to value.
func (c *Cluster) ClusterProperty(t TB, name, value string) {
	t.Helper()
	dyn := dynamic.NewForConfigOrDie(c.RestConfig(UserAdmin))
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "clusterproperties.about.k8s.io", "annotations": map[string]any{
			// a *.k8s.io group: the API review that approved it (KEP-2149)
			"api-approved.kubernetes.io": "https://github.com/kubernetes/enhancements/tree/master/keps/sig-multicluster/2149-clusterid"}},
		"spec": map[string]any{
			"group": "about.k8s.io", "scope": "Cluster",
			"names": map[string]any{"plural": "clusterproperties", "singular": "clusterproperty", "kind": "ClusterProperty", "listKind": "ClusterPropertyList"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{
					"spec": map[string]any{"type": "object", "required": []any{"value"}, "properties": map[string]any{
						"value": map[string]any{"type": "string", "minLength": int64(1), "maxLength": int64(128000)}}}}}}}},
		},
	}}
	if _, err := dyn.Resource(crdResource).Create(context.Background(), crd, meta.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("create the ClusterProperty CRD: %v", err)
	}
	gvr := schema.GroupVersionResource{Group: "about.k8s.io", Version: "v1alpha1", Resource: "clusterproperties"}
	Eventually(t, 30*time.Second, "ClusterProperty "+name+" created", func() error {
		_, err := dyn.Resource(gvr).Create(context.Background(), &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "about.k8s.io/v1alpha1", "kind": "ClusterProperty",
			"metadata": map[string]any{"name": name}, "spec": map[string]any{"value": value},
		}}, meta.CreateOptions{})
		return err
	})
}

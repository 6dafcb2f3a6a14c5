package object

import (
	"maps"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Namespace is what the plugin keeps of a core/v1 Namespace: its name and
// labels, which namespace_labels selects by.
type Namespace struct {
	meta.TypeMeta
	meta.ObjectMeta
}

// DeepCopyObject implements runtime.Object; Namespaces are immutable once
// stored.
func (n *Namespace) DeepCopyObject() runtime.Object {
	c := *n
	c.Labels = maps.Clone(n.Labels)
	return &c
}

// TransformNamespace keeps a Namespace's name, resource version and labels.
func TransformNamespace(obj any) (any, error) {
	n, ok := obj.(*core.Namespace)
	if !ok {
		return obj, nil
	}
	return &Namespace{ObjectMeta: meta.ObjectMeta{Name: n.Name, ResourceVersion: n.ResourceVersion, UID: n.UID, Labels: n.Labels}}, nil
}

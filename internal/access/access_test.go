package access

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

var deployments = schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}

func mapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	m.Add(deployments, meta.RESTScopeNamespace)
	return m
}

// reviewer answers reviews as an authorizer granting allowed verbs would,
// and counts the questions.
func reviewer(allowed []string, asked *int, fail error) client.Client {
	return fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(_ context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			if fail != nil {
				return fail
			}
			r := obj.(*authorizationv1.SelfSubjectAccessReview)
			*asked++
			a := r.Spec.ResourceAttributes
			r.Status.Allowed = a.Group == "apps" && a.Resource == "deployments" && a.Namespace == "" &&
				slices.Contains(allowed, a.Verb)
			return nil
		},
	}).Build()
}

func TestMissing(t *testing.T) {
	cases := []struct {
		name    string
		allowed []string
		want    []string
	}{
		{"everything granted", ManageVerbs, nil},
		{"read only", []string{"get", "list", "watch"}, []string{"create", "patch", "delete"}},
		{"nothing granted", nil, ManageVerbs},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			asked := 0
			c := &Checker{Client: reviewer(tc.allowed, &asked, nil), Mapper: mapper()}
			got, err := c.Missing(context.Background(), deployments)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("missing = %v, want %v", got, tc.want)
			}
			if asked != len(ManageVerbs) {
				t.Errorf("asked %d questions, want one per verb (%d)", asked, len(ManageVerbs))
			}
		})
	}
}

func TestMissingRemembersForTTL(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	asked := 0
	c := &Checker{Client: reviewer(nil, &asked, nil), Mapper: mapper(), TTL: time.Minute, Now: func() time.Time { return now }}
	ctx := context.Background()

	first, _ := c.Missing(ctx, deployments)
	first[0] = "mutated by the caller"
	again, _ := c.Missing(ctx, deployments)
	if asked != len(ManageVerbs) {
		t.Fatalf("a second question within the TTL reached the API server: %d reviews", asked)
	}
	if again[0] != "get" {
		t.Fatalf("a caller's change leaked into the remembered answer: %v", again)
	}

	now = now.Add(time.Minute)
	if _, err := c.Missing(ctx, deployments); err != nil {
		t.Fatal(err)
	}
	if asked != 2*len(ManageVerbs) {
		t.Fatalf("after the TTL the answer must be asked again: %d reviews", asked)
	}
}

func TestMissingErrors(t *testing.T) {
	ctx := context.Background()
	asked := 0
	c := &Checker{Client: reviewer(nil, &asked, errors.New("connection refused")), Mapper: mapper()}
	if _, err := c.Missing(ctx, deployments); err == nil {
		t.Fatal("a failed review must be an error, not an answer")
	}
	if _, err := c.Missing(ctx, schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}); err == nil {
		t.Fatal("an unknown kind must be an error")
	}
	// A failure is not remembered: the next call asks again.
	c.Client = reviewer(ManageVerbs, &asked, nil)
	if got, err := c.Missing(ctx, deployments); err != nil || got != nil {
		t.Fatalf("after recovery: %v, %v", got, err)
	}
}

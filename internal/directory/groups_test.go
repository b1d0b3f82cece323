package directory

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/cerulean-azure/cerulean/internal/store"
)

func TestGroupsMembership(t *testing.T) {
	d, _ := newDir(t)
	ctx := context.Background()
	var a, b, c Group
	var sp Principal
	err := d.st.Update(ctx, func(tx store.Tx) error {
		var err error
		if sp, err = d.CreatePrincipal(tx, Principal{Kind: KindServicePrincipal, DisplayName: "app"}); err != nil {
			return err
		}
		for _, g := range []*Group{&a, &b, &c} {
			if *g, err = d.CreateGroupTx(tx, Group{DisplayName: "g"}); err != nil {
				return err
			}
		}
		// sp ∈ c ∈ b ∈ a
		for _, e := range [][2]string{{c.ObjectID, sp.ObjectID}, {b.ObjectID, c.ObjectID}, {a.ObjectID, b.ObjectID}} {
			if err := d.AddMemberTx(tx, e[0], e[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, fn func(tx store.Tx) error, want error) {
		t.Helper()
		err := d.st.Update(ctx, fn)
		if !errors.Is(err, want) {
			t.Errorf("%s: err = %v, want %v", name, err, want)
		}
	}
	check("cycle a into c", func(tx store.Tx) error { return d.AddMemberTx(tx, c.ObjectID, a.ObjectID) }, ErrMemberCycle)
	check("self", func(tx store.Tx) error { return d.AddMemberTx(tx, a.ObjectID, a.ObjectID) }, ErrMemberCycle)
	check("duplicate", func(tx store.Tx) error { return d.AddMemberTx(tx, c.ObjectID, sp.ObjectID) }, ErrMemberExists)
	check("unknown member", func(tx store.Tx) error {
		return d.AddMemberTx(tx, c.ObjectID, "00000000-0000-0000-0000-00000000dead")
	}, ErrMemberNotFound)
	check("ambiguous name", func(tx store.Tx) error { _, err := d.FindGroupTx(tx, "g"); return err }, ErrGroupAmbiguous)
	check("empty name", func(tx store.Tx) error { _, err := d.CreateGroupTx(tx, Group{DisplayName: " "}); return err }, ErrInvalidGroup)

	var m map[string][]string
	_ = d.st.View(ctx, func(tx store.Tx) error { m, err = MembershipsTx(tx); return err })
	got := map[string]bool{}
	for _, g := range m[sp.ObjectID] {
		got[g] = true
	}
	if !reflect.DeepEqual(got, map[string]bool{a.ObjectID: true, b.ObjectID: true, c.ObjectID: true}) {
		t.Fatalf("sp's transitive groups = %v", m[sp.ObjectID])
	}

	// Deleting the middle group cuts the chain and removes it from a's members.
	check("delete b", func(tx store.Tx) error { return d.DeleteGroupTx(tx, b.ObjectID) }, nil)
	_ = d.st.View(ctx, func(tx store.Tx) error { m, err = MembershipsTx(tx); return err })
	if !reflect.DeepEqual(m[sp.ObjectID], []string{c.ObjectID}) {
		t.Fatalf("after deleting b: %v", m[sp.ObjectID])
	}
	_ = d.st.View(ctx, func(tx store.Tx) error { a, err = d.GetGroupTx(tx, a.ObjectID); return err })
	if len(a.Members) != 0 {
		t.Fatalf("a still lists %v", a.Members)
	}
}

package dynamodb_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/backendtest"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
)

func TestMain(m *testing.M) { dynalitetest.Main(m) }

// env is one test's server, client, request counter and fresh table.
type env struct {
	client  *ddb.Client
	counter *dynalitetest.Counter
	table   string
	backend *dynamodb.Backend
}

func newEnv(t *testing.T, opts ...dynamodb.Option) *env {
	t.Helper()
	client, counter := dynalitetest.NewCountingClient(t, dynalitetest.Start(t))
	table := dynalitetest.NewTable(t, client)
	counter.Reset()
	return &env{client: client, counter: counter, table: table, backend: dynamodb.New(client, table, opts...)}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestConformance(t *testing.T) {
	backendtest.RunWithOptions(t, backendtest.Options{Damage: damage, TooLarge: 410_000, HistoryDrop: 100_000}, func(t *testing.T) cloudchain.Backend {
		// A small page size makes the large listing need many pages.
		return newEnv(t, dynamodb.WithPageSize(100)).backend
	})
}

// damage writes an item whose current record is encoded as data, with a
// raw PutItem that the backend's checks never see.
func damage(t *testing.T, b cloudchain.Backend, service, user string, records ...[]byte) {
	t.Helper()
	client := dynalitetest.NewClient(t, dynalitetest.Start(t))
	ver := "1"
	if r, err := cloudchain.UnmarshalRecord(records[0]); err == nil {
		ver = strconv.FormatInt(r.Version, 10)
	}
	item := map[string]types.AttributeValue{
		"Service": s(service), "Username": s(user),
		"Ver": &types.AttributeValueMemberN{Value: ver},
		"Rec": &types.AttributeValueMemberB{Value: records[0]},
	}
	if len(records) > 1 {
		var hist []types.AttributeValue
		for _, r := range records[1:] {
			hist = append(hist, &types.AttributeValueMemberB{Value: r})
		}
		item["Hist"] = &types.AttributeValueMemberL{Value: hist}
	}
	_, err := client.PutItem(ctxFor(t), &ddb.PutItemInput{
		TableName: aws.String(b.(*dynamodb.Backend).Table()),
		Item:      item,
	})
	if err != nil {
		t.Fatalf("raw PutItem: %v", err)
	}
}

var epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

// record returns a FormatV1 record whose ciphertext has size bytes.
func record(version int64, size int) *cloudchain.Record {
	return &cloudchain.Record{
		Format:     cloudchain.FormatV1,
		Version:    version,
		Created:    epoch.Add(time.Duration(version) * time.Second),
		Author:     "tester",
		KeyID:      "test-key",
		Context:    cloudchain.ServiceContext("svc"),
		WrappedKey: []byte("wrapped"),
		Nonce:      bytes.Repeat([]byte{byte(version)}, 12),
		Ciphertext: bytes.Repeat([]byte{byte(version)}, size),
	}
}

func itemOf(service, user string, recs ...*cloudchain.Record) *cloudchain.Item {
	return &cloudchain.Item{Service: service, User: user, Records: recs}
}

func versions(it *cloudchain.Item) []int64 {
	var v []int64
	for _, r := range it.Records {
		v = append(v, r.Version)
	}
	return v
}

func sameRecord(t *testing.T, got, want *cloudchain.Record) {
	t.Helper()
	g, _ := got.MarshalBinary()
	w, _ := want.MarshalBinary()
	if !bytes.Equal(g, w) {
		t.Fatalf("record differs:\n got %+v\nwant %+v", got, want)
	}
}

// putRaw writes an item directly, as another client would.
func (e *env) putRaw(t *testing.T, av map[string]types.AttributeValue) {
	t.Helper()
	if _, err := e.client.PutItem(ctxFor(t), &ddb.PutItemInput{TableName: aws.String(e.table), Item: av}); err != nil {
		t.Fatalf("raw PutItem: %v", err)
	}
}

// getRaw reads an item directly.
func (e *env) getRaw(t *testing.T, service, user string) map[string]types.AttributeValue {
	t.Helper()
	out, err := e.client.GetItem(ctxFor(t), &ddb.GetItemInput{
		TableName:      aws.String(e.table),
		Key:            map[string]types.AttributeValue{"Service": s(service), "Username": s(user)},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("raw GetItem: %v", err)
	}
	return out.Item
}

func s(v string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: v} }

// pythonItem is an item as the Python cloudchain writes it.
func pythonItem(service, user string, blob []byte) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		"Service":  s(service),
		"Username": s(user),
		"Secret":   s(base64.StdEncoding.EncodeToString(blob)),
	}
}

func TestLegacyItemReadable(t *testing.T) {
	e := newEnv(t)
	blob := []byte("\x01\x02\x03 a KMS ciphertext blob")
	e.putRaw(t, pythonItem("legacy-svc", "bob", blob))

	it, err := e.backend.Load(ctxFor(t), "legacy-svc", "bob")
	if err != nil {
		t.Fatal(err)
	}
	want := &cloudchain.Record{Format: cloudchain.FormatLegacy, Version: 1, Context: map[string]string{"string": "string"}, Ciphertext: blob}
	if len(it.Records) != 1 || it.Service != "legacy-svc" || it.User != "bob" {
		t.Fatalf("Load = %+v", it)
	}
	sameRecord(t, it.Records[0], want)
	if !it.Records[0].Created.IsZero() || it.Records[0].KeyID != "" {
		t.Fatalf("legacy record has Created %v and KeyID %q, want zero", it.Records[0].Created, it.Records[0].KeyID)
	}

	for _, history := range []bool{false, true} {
		var got []*cloudchain.Item
		err := e.backend.Items(ctxFor(t), "legacy-svc", history, func(it *cloudchain.Item) error { got = append(got, it); return nil })
		if err != nil || len(got) != 1 {
			t.Fatalf("Items(history=%v) = %v, %v", history, got, err)
		}
		sameRecord(t, got[0].Records[0], want)
	}
	var svcs []string
	if err := e.backend.Services(ctxFor(t), func(s string) error { svcs = append(svcs, s); return nil }); err != nil || !slices.Equal(svcs, []string{"legacy-svc"}) {
		t.Fatalf("Services = %q, %v", svcs, err)
	}
}

func TestUpgradeInPlaceKeepsLegacyHistory(t *testing.T) {
	e := newEnv(t)
	blob := []byte("legacy blob")
	e.putRaw(t, pythonItem("svc", "bob", blob))
	prev, err := e.backend.Load(ctxFor(t), "svc", "bob")
	if err != nil {
		t.Fatal(err)
	}
	next := itemOf("svc", "bob", record(2, 32), prev.Records[0])
	if _, err := e.backend.Save(ctxFor(t), prev, next); err != nil {
		t.Fatalf("upgrade: %v", err)
	}
	raw := e.getRaw(t, "svc", "bob")
	if _, ok := raw["Secret"]; ok {
		t.Fatalf("the upgraded item kept a stale Secret: %v", raw)
	}
	if v, ok := raw["Ver"].(*types.AttributeValueMemberN); !ok || v.Value != "2" {
		t.Fatalf("Ver = %#v, want 2", raw["Ver"])
	}
	got, err := e.backend.Load(ctxFor(t), "svc", "bob")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(versions(got), []int64{2, 1}) {
		t.Fatalf("versions %v, want [2 1]", versions(got))
	}
	sameRecord(t, got.Records[1], prev.Records[0])
	if got.Records[1].Format != cloudchain.FormatLegacy {
		t.Fatalf("history record format %v", got.Records[1].Format)
	}
}

func TestLegacyWritesKeepSecretForPython(t *testing.T) {
	e := newEnv(t)
	ct := []byte("kms blob written by cchain in legacy mode")
	legacy := &cloudchain.Record{Format: cloudchain.FormatLegacy, Version: 1, Created: epoch, KeyID: "arn:aws:kms:us-east-1:123456789012:key/x",
		Context: cloudchain.LegacyContext(), Ciphertext: ct}
	if _, err := e.backend.Save(ctxFor(t), nil, itemOf("svc", "amy", legacy)); err != nil {
		t.Fatal(err)
	}
	raw := e.getRaw(t, "svc", "amy")
	if sec, ok := raw["Secret"].(*types.AttributeValueMemberS); !ok || sec.Value != base64.StdEncoding.EncodeToString(ct) {
		t.Fatalf("Secret = %#v, want base64 of the ciphertext", raw["Secret"])
	}

	// A second legacy write (version 2) keeps Secret current.
	prev, _ := e.backend.Load(ctxFor(t), "svc", "amy")
	ct2 := []byte("second legacy blob")
	legacy2 := *legacy
	legacy2.Version, legacy2.Ciphertext = 2, ct2
	if _, err := e.backend.Save(ctxFor(t), prev, itemOf("svc", "amy", &legacy2, legacy)); err != nil {
		t.Fatal(err)
	}
	if sec := e.getRaw(t, "svc", "amy")["Secret"].(*types.AttributeValueMemberS); sec.Value != base64.StdEncoding.EncodeToString(ct2) {
		t.Fatalf("Secret not updated by a legacy write")
	}

	// A v1 write drops Secret, so the Python client cannot read a stale value.
	prev, _ = e.backend.Load(ctxFor(t), "svc", "amy")
	if _, err := e.backend.Save(ctxFor(t), prev, itemOf("svc", "amy", record(3, 16), &legacy2, legacy)); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.getRaw(t, "svc", "amy")["Secret"]; ok {
		t.Fatal("a v1 write left the legacy Secret behind")
	}
}

func TestLegacyConditionDetectsPythonOverwrite(t *testing.T) {
	t.Run("BeforeUpgrade", func(t *testing.T) {
		e := newEnv(t)
		e.putRaw(t, pythonItem("svc", "bob", []byte("old")))
		prev, err := e.backend.Load(ctxFor(t), "svc", "bob")
		if err != nil {
			t.Fatal(err)
		}
		// The Python client overwrites the secret between Load and Save.
		e.putRaw(t, pythonItem("svc", "bob", []byte("python's new value")))
		_, err = e.backend.Save(ctxFor(t), prev, itemOf("svc", "bob", record(2, 16), prev.Records[0]))
		if !errors.Is(err, cloudchain.ErrVersionConflict) {
			t.Fatalf("Save over a Python overwrite: err = %v, want ErrVersionConflict", err)
		}
		if err := e.backend.Remove(ctxFor(t), prev); !errors.Is(err, cloudchain.ErrVersionConflict) {
			t.Fatalf("Remove over a Python overwrite: err = %v, want ErrVersionConflict", err)
		}
		got, _ := e.backend.Load(ctxFor(t), "svc", "bob")
		if string(got.Records[0].Ciphertext) != "python's new value" {
			t.Fatalf("the Python client's write was lost: %q", got.Records[0].Ciphertext)
		}
		// Re-reading and retrying works.
		if _, err := e.backend.Save(ctxFor(t), got, itemOf("svc", "bob", record(2, 16), got.Records[0])); err != nil {
			t.Fatalf("retry: %v", err)
		}
	})
	t.Run("AfterUpgrade", func(t *testing.T) {
		e := newEnv(t)
		if _, err := e.backend.Save(ctxFor(t), nil, itemOf("svc", "bob", record(1, 16))); err != nil {
			t.Fatal(err)
		}
		prev, _ := e.backend.Load(ctxFor(t), "svc", "bob")
		e.putRaw(t, pythonItem("svc", "bob", []byte("python again")))
		_, err := e.backend.Save(ctxFor(t), prev, itemOf("svc", "bob", record(2, 16), prev.Records[0]))
		if !errors.Is(err, cloudchain.ErrVersionConflict) {
			t.Fatalf("err = %v, want ErrVersionConflict", err)
		}
	})
}

func TestSaveDropsOldestHistoryToFit(t *testing.T) {
	e := newEnv(t)
	const recSize = 100_000
	var recs []*cloudchain.Record
	for v := int64(6); v >= 1; v-- {
		recs = append(recs, record(v, recSize))
	}
	next := itemOf("big", "alice", recs...)
	dropped, err := e.backend.Save(ctxFor(t), nil, next)
	if err != nil {
		t.Fatalf("Save of a 600 KB item: %v", err)
	}
	// Four records of about 100 KB fit under 400 KB; the two oldest go.
	if dropped != 2 {
		t.Fatalf("Save reported %d records dropped, want 2", dropped)
	}
	if !slices.Equal(versions(next), []int64{6, 5, 4, 3, 2, 1}) {
		t.Fatalf("Save changed next: versions %v, want [6 5 4 3 2 1]", versions(next))
	}
	got, err := e.backend.Load(ctxFor(t), "big", "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(versions(got), []int64{6, 5, 4, 3}) {
		t.Fatalf("stored versions %v, want [6 5 4 3]", versions(got))
	}
	if size := dynamodb.ItemSize(e.getRaw(t, "big", "alice")); size > dynamodb.MaxItemSize-dynamodb.SizeMargin {
		t.Fatalf("stored item is %d bytes, over the budget", size)
	}
}

func TestTooLargeSecretWritesNothing(t *testing.T) {
	e := newEnv(t)
	if _, err := e.backend.Save(ctxFor(t), nil, itemOf("big", "alice", record(1, 100))); err != nil {
		t.Fatal(err)
	}
	prev, _ := e.backend.Load(ctxFor(t), "big", "alice")
	e.counter.Reset()
	next := itemOf("big", "alice", record(2, 410_000), prev.Records[0])
	_, err := e.backend.Save(ctxFor(t), prev, next)
	if !errors.Is(err, cloudchain.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	for _, want := range []string{"409984 bytes", "400 KB", "big/alice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if n := e.counter.Total(); n != 0 {
		t.Fatalf("a refused Save sent %d requests: %v", n, e.counter.Counts())
	}
	got, _ := e.backend.Load(ctxFor(t), "big", "alice")
	if !slices.Equal(versions(got), []int64{1}) {
		t.Fatalf("the stored item changed: versions %v", versions(got))
	}
	sameRecord(t, got.Records[0], prev.Records[0])

	// Just under the limit fits, with no room for history.
	fits := itemOf("big", "alice", record(2, 408_400), prev.Records[0])
	dropped, err := e.backend.Save(ctxFor(t), prev, fits)
	if err != nil {
		t.Fatalf("a 408,400-byte secret: %v", err)
	}
	if dropped != 1 || len(fits.Records) != 2 {
		t.Fatalf("dropped %d (want 1), next has %d records (want 2, untouched)", dropped, len(fits.Records))
	}
	got, _ = e.backend.Load(ctxFor(t), "big", "alice")
	if !slices.Equal(versions(got), []int64{2}) {
		t.Fatalf("stored versions %v, want [2]", versions(got))
	}
}

// TestItemSizeMatchesServer checks the size computation against the server's
// own limit check, at the exact boundary. (Numbers are left out: ItemSize
// counts them a byte high on purpose.)
func TestItemSizeMatchesServer(t *testing.T) {
	e := newEnv(t)
	base := map[string]types.AttributeValue{
		"Service":  s("svc"),
		"Username": s("user"),
		"Secret":   s("c2VjcmV0"), // ASCII: dynalite counts UTF-16 units, DynamoDB UTF-8 bytes
		"Hist": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberB{Value: []byte("abc")},
			&types.AttributeValueMemberB{Value: []byte("defgh")},
		}},
	}
	for _, tc := range []struct {
		name string
		size int
		ok   bool
	}{{"AtLimit", dynamodb.MaxItemSize, true}, {"OneOver", dynamodb.MaxItemSize + 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			av := map[string]types.AttributeValue{}
			for k, v := range base {
				av[k] = v
			}
			av["Rec"] = &types.AttributeValueMemberB{}
			pad := tc.size - dynamodb.ItemSize(av)
			av["Rec"] = &types.AttributeValueMemberB{Value: make([]byte, pad)}
			if got := dynamodb.ItemSize(av); got != tc.size {
				t.Fatalf("ItemSize = %d, want %d", got, tc.size)
			}
			_, err := e.client.PutItem(ctxFor(t), &ddb.PutItemInput{TableName: aws.String(e.table), Item: av})
			if (err == nil) != tc.ok {
				t.Fatalf("PutItem of a %d-byte item: err = %v, want ok=%v", tc.size, err, tc.ok)
			}
		})
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t, dynamodb.WithPageSize(7))
	const n = 50
	var want []string
	for i := range n {
		user := fmt.Sprintf("user-%03d", i)
		want = append(want, user)
		if _, err := e.backend.Save(ctxFor(t), nil, itemOf("paged", user, record(2, 10), record(1, 10))); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			if _, err := e.backend.Save(ctxFor(t), nil, itemOf(fmt.Sprintf("svc-%02d", i), "x", record(1, 10))); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, history := range []bool{false, true} {
		e.counter.Reset()
		var users []string
		err := e.backend.Items(ctxFor(t), "paged", history, func(it *cloudchain.Item) error {
			users = append(users, it.User)
			if history && len(it.Records) != 2 || !history && len(it.Records) != 1 {
				return fmt.Errorf("%s has %d records with history=%v", it.User, len(it.Records), history)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(users, want) {
			t.Fatalf("Items(history=%v) = %q", history, users)
		}
		// 50 items in pages of 7: 8 pages (the last one may come back empty).
		if q := e.counter.Count("Query"); q < 8 || q > 9 || e.counter.Total() != q {
			t.Fatalf("Items made %v requests, want 8 or 9 Query pages only", e.counter.Counts())
		}
	}
	e.counter.Reset()
	var svcs []string
	if err := e.backend.Services(ctxFor(t), func(s string) error { svcs = append(svcs, s); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(svcs) != 11 || svcs[0] != "paged" || !slices.IsSorted(svcs) {
		t.Fatalf("Services = %q", svcs)
	}
	if sc := e.counter.Count("Scan"); sc < 9 || e.counter.Total() != sc {
		t.Fatalf("Services made %v requests, want at least 9 Scan pages only", e.counter.Counts())
	}
	// fn's error stops the walk and comes back unchanged.
	stop := errors.New("stop")
	calls := 0
	err := e.backend.Items(ctxFor(t), "paged", false, func(*cloudchain.Item) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Items with a failing fn: err = %v after %d calls", err, calls)
	}
}

func TestRequestCounts(t *testing.T) {
	e := newEnv(t)
	ctx := ctxFor(t)
	check := func(what string, want map[string]int) {
		t.Helper()
		if got := e.counter.Operations(t); !mapsEqual(got, want) {
			t.Errorf("%s sent %v, want %v", what, got, want)
		}
		e.counter.Reset()
	}
	if _, err := e.backend.Load(ctx, "svc", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Load of a missing item: %v", err)
	}
	check("Load of a missing item", map[string]int{"GetItem": 1})
	if _, err := e.backend.Save(ctx, nil, itemOf("svc", "alice", record(1, 10))); err != nil {
		t.Fatal(err)
	}
	check("Save", map[string]int{"PutItem": 1})
	prev, err := e.backend.Load(ctx, "svc", "alice")
	if err != nil {
		t.Fatal(err)
	}
	check("Load", map[string]int{"GetItem": 1})
	if _, err := e.backend.Save(ctx, nil, itemOf("svc", "alice", record(1, 10))); !errors.Is(err, cloudchain.ErrVersionConflict) {
		t.Fatalf("second create: %v", err)
	}
	check("a conflicting Save", map[string]int{"PutItem": 1})
	if err := e.backend.Remove(ctx, prev); err != nil {
		t.Fatal(err)
	}
	check("Remove", map[string]int{"DeleteItem": 1})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestMissingTableIsNotSetUp(t *testing.T) {
	client := dynalitetest.NewClient(t, dynalitetest.Start(t))
	table := dynalitetest.TableName(t)
	b := dynamodb.New(client, table)
	ctx := ctxFor(t)
	ops := map[string]func() error{
		"Load": func() error { _, err := b.Load(ctx, "svc", "alice"); return err },
		"Save": func() error { _, err := b.Save(ctx, nil, itemOf("svc", "alice", record(1, 10))); return err },
		"Remove": func() error {
			return b.Remove(ctx, itemOf("svc", "alice", record(1, 10)))
		},
		"Items":    func() error { return b.Items(ctx, "svc", false, func(*cloudchain.Item) error { return nil }) },
		"Services": func() error { return b.Services(ctx, func(string) error { return nil }) },
	}
	for name, op := range ops {
		t.Run(name, func(t *testing.T) {
			err := op()
			if !errors.Is(err, cloudchain.ErrNotSetUp) || errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotSetUp and not ErrNotFound", err)
			}
			for _, want := range []string{table, "us-east-1", "cchain setup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestDamagedHistoryEntry: a history entry that cannot be decoded is left
// out and counted; the current version still loads.
func TestDamagedHistoryEntry(t *testing.T) {
	e := newEnv(t)
	good, _ := record(2, 10).MarshalBinary()
	e.putRaw(t, map[string]types.AttributeValue{"Service": s("svc"), "Username": s("u"),
		"Rec": &types.AttributeValueMemberB{Value: good}, "Ver": &types.AttributeValueMemberN{Value: "2"},
		"Hist": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberB{Value: []byte("junk")}, s("not binary")}}})
	it, err := e.backend.Load(ctxFor(t), "svc", "u")
	if err != nil || it.Version() != 2 || len(it.Records) != 1 || it.DamagedHistory != 2 {
		t.Fatalf("Load = %+v, %v; want the current version and 2 damaged", it, err)
	}
}

func TestMalformedItems(t *testing.T) {
	e := newEnv(t)
	good, _ := record(1, 10).MarshalBinary()
	cases := map[string]map[string]types.AttributeValue{
		"BadRec":       {"Rec": &types.AttributeValueMemberB{Value: []byte("not a record")}, "Ver": &types.AttributeValueMemberN{Value: "1"}},
		"RecNotBinary": {"Rec": s("text"), "Ver": &types.AttributeValueMemberN{Value: "1"}},
		"VerMismatch":  {"Rec": &types.AttributeValueMemberB{Value: good}, "Ver": &types.AttributeValueMemberN{Value: "5"}},
		"BadSecret":    {"Secret": s("!!! not base64 !!!")},
		"Nothing":      {"Other": s("x")},
		"HistNotList":  {"Rec": &types.AttributeValueMemberB{Value: good}, "Ver": &types.AttributeValueMemberN{Value: "1"}, "Hist": s("junk")},
	}
	for name, attrs := range cases {
		t.Run(name, func(t *testing.T) {
			av := map[string]types.AttributeValue{"Service": s("svc"), "Username": s(name)}
			for k, v := range attrs {
				av[k] = v
			}
			e.putRaw(t, av)
			_, err := e.backend.Load(ctxFor(t), "svc", name)
			if !errors.Is(err, cloudchain.ErrMalformed) || errors.Is(err, cloudchain.ErrNotFound) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), "svc/"+name) {
				t.Errorf("error %q does not name the item", err)
			}
		})
	}
}

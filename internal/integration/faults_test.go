package integration

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudchain/cloudchain"
)

// Faults injected on the wire between the real SDK client and the servers:
// the SDK's retryer and error deserializers run as in production.

func TestDynamoDBThrottlingIsRetriedThenReported(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	s.ddb.Reset()
	s.ddb.Fail("BatchGetItem", 2, "ProvisionedThroughputExceededException", 400)
	sec, err := s.store.Get(ctx, "db", "alice")
	if err != nil || string(sec.Value) != "hunter2" {
		t.Fatalf("Get after 2 throttles = %v, %v", sec, err)
	}
	if n := s.ddb.Count("BatchGetItem"); n != 3 {
		t.Fatalf("%d BatchGetItem requests, want 3 (2 throttled + 1)", n)
	}

	s.ddb.Fail("BatchGetItem", 10, "ThrottlingException", 400)
	_, err = s.store.Get(ctx, "db", "alice")
	if !errors.Is(err, cloudchain.ErrThrottled) || errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get under persistent throttling: err = %v, want ErrThrottled and not ErrNotFound", err)
	}
	s.ddb.ClearFaults()
}

func TestDynamoDBAccessDeniedNamesActionAndTable(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	s.ddb.Fail("PutItem", 1, "AccessDeniedException", 400)
	_, err := s.store.Put(ctx, "db", "alice", []byte("hunter2"))
	if !errors.Is(err, cloudchain.ErrAccessDenied) {
		t.Fatalf("err = %v, want ErrAccessDenied", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "dynamodb:PutItem") || !strings.Contains(msg, s.backend.Table()) || strings.Contains(msg, "hunter2") {
		t.Fatalf("message %q should name dynamodb:PutItem and the table, and never the secret", msg)
	}
	if _, err := s.store.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("a denied put wrote something: %v", err)
	}
}

// TestLostWriteResponse: the conditional write lands but its response is
// lost; the SDK retries it, the retry fails its condition, and the Store
// must recognise its own write instead of reporting a conflict or writing a
// duplicate version.
func TestLostWriteResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []cloudchain.PutOption
	}{
		{"Retrying", nil},
		{"IfVersion", []cloudchain.PutOption{cloudchain.IfVersion(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStack(t)
			ctx := ctxFor(t)
			if _, err := s.store.Put(ctx, "db", "bob", []byte("makes the key ring")); err != nil {
				t.Fatal(err)
			}
			s.ddb.Reset()
			s.ddb.LoseResponse("PutItem", 1)
			v, err := s.store.Put(ctx, "db", "alice", []byte("hunter2"), tc.opts...)
			if err != nil || v != 1 {
				t.Fatalf("Put with a lost response = %d, %v; want 1, nil", v, err)
			}
			hist, err := s.store.History(ctx, "db", "alice")
			if err != nil || len(hist) != 1 {
				t.Fatalf("history after a lost response: %+v, %v; want exactly one version", hist, err)
			}
			if n := s.ddb.Count("PutItem"); n != 3 {
				t.Fatalf("%d PutItem requests, want 3 (the lost one, the SDK's retry, and the rollback manifest)", n)
			}
		})
	}
}

// TestLostKeyRingResponse: the conditional create of a service's key ring
// lands but its response is lost; the retry fails its condition, and the
// Store adopts the ring it finds (its own) instead of failing or making a
// second one.
func TestLostKeyRingResponse(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	s.ddb.LoseResponse("PutItem", 1)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		t.Fatalf("Put with the key ring's response lost: %v", err)
	}
	s.expect(t, "put with the key ring's response lost",
		map[string]int{"BatchGetItem": 1, "Query": 1, "PutItem": 5, "GetItem": 1},
		map[string]int{"GenerateDataKey": 1, "Decrypt": 1})
	// Revision 2: the one ring, adopted, then its manifest flag set.
	ring, err := s.backend.Load(ctx, "db", cloudchain.ServiceKeyUser)
	if err != nil || ring.Version() != 2 {
		t.Fatalf("key ring after a lost response: %v, %v", ring, err)
	}
	if sec, err := s.store.Get(ctx, "db", "alice"); err != nil || string(sec.Value) != "hunter2" {
		t.Fatalf("Get = %v, %v", sec, err)
	}
}

// TestLostRingAndManifestResponses: a key ring update (a rotation) and a
// manifest write land but their responses are lost; the SDK's retries fail
// their conditions, and the Store finds its own write and succeeds instead
// of reporting a conflict (seen on moto, whose response was cut short).
func TestLostRingAndManifestResponses(t *testing.T) {
	var notices []cloudchain.Notice
	s := newStack(t, cloudchain.WithNotices(func(n cloudchain.Notice) { notices = append(notices, n) }))
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("one")); err != nil {
		t.Fatal(err)
	}
	ring, err := s.backend.Load(ctx, "db", cloudchain.ServiceKeyUser)
	if err != nil {
		t.Fatal(err)
	}
	s.ddb.LoseResponse("PutItem", 1)
	if v, err := s.store.RotateServiceKey(ctx, "db"); err != nil || v != 2 {
		t.Fatalf("RotateServiceKey with the ring's response lost = %d, %v", v, err)
	}
	after, err := s.backend.Load(ctx, "db", cloudchain.ServiceKeyUser)
	if err != nil || after.Version() != ring.Version()+1 {
		t.Fatalf("key ring revision %d after one rotation from %d (%v)", after.Version(), ring.Version(), err)
	}
	// A put whose two writes (the secret, the manifest) both lose their
	// responses.
	st := s.store
	notices = nil
	s.ddb.Reset()
	s.ddb.LoseResponse("PutItem", 1)
	s.ddb.LoseResponse("PutItem", 1)
	if v, err := st.Put(ctx, "db", "alice", []byte("two")); err != nil || v != 2 {
		t.Fatalf("Put = %d, %v", v, err)
	}
	for _, n := range notices {
		if n.Kind == cloudchain.NoticeManifest {
			t.Fatalf("a manifest write that landed was reported as failed: %s", n.Message)
		}
	}
	if sec, err := st.Get(ctx, "db", "alice"); err != nil || string(sec.Value) != "two" {
		t.Fatalf("Get = %v, %v", sec, err)
	}
}

func TestKMSThrottlingDuringPut(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	s.kms.Throttle("GenerateDataKey", 2)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("hunter2")); err != nil {
		t.Fatalf("Put after 2 KMS throttles: %v", err)
	}
	s.expect(t, "put with 2 throttled data keys", map[string]int{"BatchGetItem": 1, "Query": 1, "PutItem": 4}, map[string]int{"GenerateDataKey": 3})
}

// TestWriteLandedBehindAnError: the write lands, and every response the SDK
// gets (its first attempt and all its retries) is an error. The Store
// re-reads once, finds its own record, and reports success, so that a user's
// retry never makes a duplicate version.
func TestWriteLandedBehindAnError(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "bob", []byte("makes the key ring")); err != nil {
		t.Fatal(err)
	}
	s.ddb.Reset()
	s.ddb.LoseResponse("PutItem", 3) // the retryer makes 3 attempts
	v, err := s.store.Put(ctx, "db", "alice", []byte("hunter2"))
	if err != nil || v != 1 {
		t.Fatalf("Put whose every response was lost = %d, %v; want 1, nil", v, err)
	}
	if n := s.ddb.Count("PutItem"); n != 4 {
		t.Fatalf("%d PutItem requests, want 4 (3 attempts, then the rollback manifest)", n)
	}
	hist, err := s.store.History(ctx, "db", "alice")
	if err != nil || len(hist) != 1 {
		t.Fatalf("history: %+v, %v; want exactly one version", hist, err)
	}

	// A write that did not land is still an error.
	s.ddb.Fail("PutItem", 3, "InternalServerError", 500)
	if _, err := s.store.Put(ctx, "db", "alice", []byte("second")); err == nil {
		t.Fatal("a put that never reached the server succeeded")
	}
	if sec, err := s.store.Get(ctx, "db", "alice"); err != nil || string(sec.Value) != "hunter2" || sec.Version != 1 {
		t.Fatalf("after a failed put: %+v, %v", sec, err)
	}
}

// TestLostResponseInPutMany: one of PutMany's conditional writes lands but
// its response is lost; the SDK's retry fails its condition. PutMany must
// find its own write and report version 1, not write a second version
// (seen on moto, whose response failed the SDK's CRC32 check).
func TestLostResponseInPutMany(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	if _, err := s.store.Put(ctx, "db", "bob", []byte("makes the key ring")); err != nil {
		t.Fatal(err)
	}
	s.ddb.Reset()
	s.ddb.LoseResponse("PutItem", 1)
	values := []cloudchain.SecretValue{{User: "u1", Value: []byte("v1")}, {User: "u2", Value: []byte("v2")}, {User: "u3", Value: []byte("v3")}}
	res, err := s.store.PutMany(ctx, "db", values)
	if err != nil {
		t.Fatalf("PutMany with a lost response: %v", err)
	}
	for _, r := range res {
		if r.Version != 1 || r.Status != cloudchain.Created {
			t.Errorf("%s: version %d, %v; want version 1, created", r.User, r.Version, r.Status)
		}
		hist, err := s.store.History(ctx, "db", r.User)
		if err != nil || len(hist) != 1 {
			t.Errorf("history of %s after a lost response: %d versions, %v; want exactly one", r.User, len(hist), err)
		}
	}
}

// TestLostResponseInPurge: the conditional DeleteItem of a purge lands but
// its response is lost; the SDK's retry fails its condition. The purge must
// report success, not "not found".
func TestLostResponseInPurge(t *testing.T) {
	s := newStack(t)
	ctx := ctxFor(t)
	for _, u := range []string{"alice", "bob"} {
		if _, err := s.store.Put(ctx, "db", u, []byte("pw")); err != nil {
			t.Fatal(err)
		}
	}
	s.ddb.LoseResponse("DeleteItem", 1)
	if err := s.store.Purge(ctx, "db", "alice"); err != nil {
		t.Fatalf("Purge with a lost response: %v", err)
	}
	if _, err := s.store.Get(ctx, "db", "alice"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("Get after the purge: %v, want not found", err)
	}
	if secs, err := s.store.GetServices(ctx, "db"); err != nil || len(secs) != 1 {
		t.Fatalf("GetServices after the purge: %d secrets, %v; want bob alone", len(secs), err)
	}
}

// TestLostResponseThenThrottled: the conditional PutItem lands, its answer
// is lost, and the SDK's retries are then throttled until it gives up. The
// write is found stored and reported done (one new version), rather than
// failed, which would make the user's retry a duplicate. The same for a
// purge's DeleteItem. Found by review.
func TestLostResponseThenThrottled(t *testing.T) {
	for _, op := range []string{"Put", "PutMany", "Purge"} {
		t.Run(op, func(t *testing.T) {
			s := newStack(t)
			ctx := ctxFor(t)
			if _, err := s.store.Put(ctx, "db", "alice", []byte("v1")); err != nil {
				t.Fatal(err)
			}
			write := "PutItem"
			if op == "Purge" {
				write = "DeleteItem"
			}
			s.ddb.LoseResponse(write, 1)
			s.ddb.Fail(write, 2, "ProvisionedThroughputExceededException", 400)
			var err error
			switch op {
			case "Put":
				_, err = s.store.Put(ctx, "db", "alice", []byte("v2"))
			case "PutMany":
				_, err = s.store.PutMany(ctx, "db", []cloudchain.SecretValue{{User: "alice", Value: []byte("v2")}})
			case "Purge":
				err = s.store.Purge(ctx, "db", "alice")
			}
			s.ddb.ClearFaults()
			if err != nil {
				t.Fatalf("%s whose write landed, its answer lost and the retries throttled: %v", op, err)
			}
			hist, herr := s.store.History(ctx, "db", "alice")
			switch {
			case op == "Purge" && !errors.Is(herr, cloudchain.ErrNotFound):
				t.Fatalf("after the purge: %v, want not found", herr)
			case op != "Purge" && (herr != nil || len(hist) != 2):
				t.Fatalf("after the %s: %d versions, %v; want exactly 2", op, len(hist), herr)
			}
		})
	}
}

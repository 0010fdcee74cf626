package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/failover"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/faultproxy"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// Two regions, each a dynalite and a KMS test server behind a fault proxy:
// a global table (the same items in both tables, copied as replication
// would) and a multi-Region key (the same key id and material in both KMS
// servers). The clients retry as cchain's do, with short back-offs and
// per-attempt timeouts (see faultproxy_test.go).

type regionServers struct {
	name   string
	direct *ddb.Client
	ddbP   *faultproxy.Proxy
	kmsP   *faultproxy.Proxy
	kms    *kmstest.Server
}

type twoRegions struct {
	table      string
	keyARN     string
	east, west *regionServers
	httpc      *http.Client
}

func newTwoRegions(t *testing.T) *twoRegions {
	t.Helper()
	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: attemptTimeout}
	t.Cleanup(tr.CloseIdleConnections)
	s := &twoRegions{httpc: &http.Client{Transport: tr}}
	mk := func(name, endpoint string) *regionServers {
		r := &regionServers{name: name, direct: dynalitetest.NewClient(t, endpoint), kms: kmstest.NewServer(t, kmstest.WithRegion(name))}
		r.ddbP = faultproxy.Start(t, endpoint)
		r.kmsP = faultproxy.Start(t, r.kms.URL())
		return r
	}
	s.east = mk("us-east-1", dynalitetest.Start(t))
	s.west = mk("us-west-2", dynalitetest.StartPrivate(t))
	s.table = dynalitetest.NewTable(t, s.east.direct)
	createTable(t, s.west.direct, s.table)
	s.keyARN = s.east.kms.CreateMultiRegionKey("cloudchain")
	s.west.kms.ReplicateKey(s.east.kms, s.keyARN, "cloudchain")
	return s
}

func createTable(t *testing.T, c *ddb.Client, table string) {
	t.Helper()
	ctx := context.Background()
	if _, err := dynamodb.CreateTable(ctx, c, table); err != nil {
		t.Fatalf("creating %s in the second region: %v", table, err)
	}
}

// store opens a Store over both regions, with fresh failover state.
func (s *twoRegions) store(opts ...failover.Option) *cloudchain.Store {
	var regions []failover.Region
	var keys []failover.KeyRegion
	for _, r := range []*regionServers{s.east, s.west} {
		dc := ddb.New(ddb.Options{
			Region:       r.name,
			BaseEndpoint: aws.String(r.ddbP.URL()),
			Credentials:  credentials.NewStaticCredentialsProvider("AKIDCLOUDCHAINTEST", "cloudchain-test-secret", ""),
			HTTPClient:   s.httpc,
			Retryer:      kmstest.FastRetryer(config.RetryAttempts),
		})
		kc := r.kms.NewClient(func(o *kms.Options) {
			o.BaseEndpoint = aws.String(r.kmsP.URL())
			o.HTTPClient = s.httpc
			o.Retryer = kmstest.FastRetryer(config.RetryAttempts)
		})
		var kopts []awskms.Option
		if r != s.east {
			kopts = append(kopts, awskms.WithReplicaRegion(r.name))
		}
		regions = append(regions, failover.Region{Name: r.name, Backend: dynamodb.New(dc, s.table, dynamodb.WithRegion(r.name))})
		keys = append(keys, failover.KeyRegion{Name: r.name, Provider: awskms.New(kc, "alias/cloudchain", kopts...)})
	}
	return cloudchain.New(failover.New(regions, opts...), failover.NewKeys(keys, opts...), cloudchain.WithAuthor(func(context.Context) (string, error) { return "test", nil }))
}

// replicate copies every item of the east table to the west one, as a
// global table's replication does.
func (s *twoRegions) replicate(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	p := ddb.NewScanPaginator(s.east.direct, &ddb.ScanInput{TableName: aws.String(s.table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if _, err := s.west.direct.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(s.table), Item: it}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (s *twoRegions) resetCounts() {
	for _, r := range []*regionServers{s.east, s.west} {
		r.ddbP.Reset()
		r.kmsP.Reset()
	}
}

// down makes every request to r's servers fail as a dead region's do.
func (r *regionServers) down(k faultproxy.Kind) {
	r.ddbP.Always("*", faultproxy.Fault{Kind: k})
	r.kmsP.Always("*", faultproxy.Fault{Kind: k})
}

func (r *regionServers) up() {
	r.ddbP.Clear()
	r.kmsP.Clear()
}

// counts is what a region's two servers received: DynamoDB requests and
// KMS Decrypt requests.
func (r *regionServers) counts() [2]int { return [2]int{r.ddbP.Total(), r.kmsP.Count("Decrypt")} }

func seed(t *testing.T, s *twoRegions, n int) {
	t.Helper()
	st := s.store()
	for i := range n {
		if _, err := st.Put(context.Background(), "app", fmt.Sprintf("user%02d", i), []byte(fmt.Sprintf("secret-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	s.replicate(t)
}

// TestRegionDownMidRun takes the primary region down in the middle of a
// run of reads: every read succeeds, the dead region is asked once (its
// retries), and the replica serves the rest.
func TestRegionDownMidRun(t *testing.T) {
	for _, kind := range []faultproxy.Kind{faultproxy.Reset, faultproxy.Status503, faultproxy.Hang} {
		t.Run(kind.String(), func(t *testing.T) {
			s := newTwoRegions(t)
			seed(t, s, 4)
			var events []failover.Event
			st := s.store(failover.WithNotify(func(e failover.Event) { events = append(events, e) }))
			ctx := context.Background()
			s.resetCounts()
			const before, after = 3, 5
			for i := range before + after {
				if i == before {
					s.east.down(kind)
				}
				sec, err := st.Get(ctx, "app", "user01")
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if string(sec.Value) != "secret-1" {
					t.Fatalf("read %d: wrong value", i)
				}
			}
			// A get is one DynamoDB round trip and one KMS Decrypt. Taken
			// down, the primary gets RetryAttempts of each once.
			n := config.RetryAttempts
			if got, want := s.east.counts(), [2]int{before + n, before + n}; got != want {
				t.Errorf("primary: %v DynamoDB requests and Decrypts, want %v", got, want)
			}
			if got, want := s.west.counts(), [2]int{after, after}; got != want {
				t.Errorf("replica: %v DynamoDB requests and Decrypts, want %v", got, want)
			}
			if len(events) != 2 {
				t.Errorf("events = %v, want one for dynamodb and one for kms", events)
			}
			// Bulk reads and listings fail over too.
			secrets, err := st.GetService(ctx, "app")
			if err != nil || len(secrets) != 4 {
				t.Fatalf("GetService: %d, %v", len(secrets), err)
			}
			if _, err := st.List(ctx, "app"); err != nil {
				t.Fatalf("List: %v", err)
			}
			if _, err := st.History(ctx, "app", "user02"); err != nil {
				t.Fatalf("History: %v", err)
			}
			if got := s.east.counts(); got != [2]int{before + n, before + n} {
				t.Errorf("the skipped primary was asked again: %v", got)
			}
		})
	}
}

// TestWriteRefusedWhenPrimaryDown: a put with the primary down fails with
// the clear error, and nothing reaches the replica's table.
func TestWriteRefusedWhenPrimaryDown(t *testing.T) {
	s := newTwoRegions(t)
	seed(t, s, 1)
	st := s.store()
	s.east.down(faultproxy.Reset)
	s.resetCounts()
	_, err := st.Put(context.Background(), "app", "user00", []byte("new"))
	var we *failover.WriteError
	if !errors.As(err, &we) || !errors.Is(err, failover.ErrPrimaryDown) || we.Primary != "us-east-1" {
		t.Fatalf("put with the primary down: %v", err)
	}
	if n := s.west.ddbP.Count("PutItem"); n != 0 {
		t.Fatalf("the replica got %d PutItem", n)
	}
	t.Logf("error: %v", err)
	s.east.up()
	if sec, err := s.store().Get(context.Background(), "app", "user00"); err != nil || string(sec.Value) != "secret-0" {
		t.Fatalf("after the refused write: %v", err)
	}
}

// TestAnswersDoNotFailOver: access denied and a missing secret are
// answers, not outages: the replica is never asked.
func TestAnswersDoNotFailOverIntegration(t *testing.T) {
	s := newTwoRegions(t)
	seed(t, s, 1)
	ctx := context.Background()

	s.resetCounts()
	if _, err := s.store().Get(ctx, "app", "nobody"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("missing secret: %v", err)
	}
	if s.west.ddbP.Total() != 0 {
		t.Fatal("a missing secret was looked up in the replica")
	}

	s.east.kms.DenyAccess("Decrypt")
	s.resetCounts()
	if _, err := s.store().Get(ctx, "app", "user00"); !errors.Is(err, cloudchain.ErrAccessDenied) {
		t.Fatalf("denied: %v", err)
	}
	if s.west.kmsP.Total() != 0 || s.west.ddbP.Total() != 0 {
		t.Fatal("an access denied failed over")
	}
	s.east.kms.AllowAccess("Decrypt")

	// With the primary down, the replica's answer is the answer.
	s.east.down(faultproxy.Reset)
	if _, err := s.store().Get(ctx, "app", "nobody"); !errors.Is(err, cloudchain.ErrNotFound) {
		t.Fatalf("missing secret with the primary down: %v", err)
	}
}

// TestTimeoutBoundsFailover: the caller's deadline ends the read in the
// region it is in; an attempt that times out on its own fails over.
func TestTimeoutBoundsFailover(t *testing.T) {
	s := newTwoRegions(t)
	seed(t, s, 1)
	s.east.down(faultproxy.Hang)
	s.resetCounts()
	// Shorter than the primary's attempts: the read ends there.
	ctx, cancel := context.WithTimeout(context.Background(), attemptTimeout/2)
	defer cancel()
	if _, err := s.store().Get(ctx, "app", "user00"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if n := s.west.ddbP.Total() + s.west.kmsP.Total(); n != 0 {
		t.Fatalf("the replica got %d requests after the caller's deadline", n)
	}
	if n := s.east.ddbP.Total(); n != 1 {
		t.Fatalf("the primary got %d requests, want 1 (the deadline came during the first)", n)
	}
	// Long enough for the primary's attempts to time out on their own.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	if _, err := s.store().Get(ctx2, "app", "user00"); err != nil {
		t.Fatalf("per-attempt timeouts: %v", err)
	}
}

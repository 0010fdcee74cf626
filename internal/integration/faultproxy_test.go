package integration

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/cloudchain/cloudchain"
	"github.com/cloudchain/cloudchain/backend/dynamodb"
	"github.com/cloudchain/cloudchain/config"
	"github.com/cloudchain/cloudchain/internal/dynalitetest"
	"github.com/cloudchain/cloudchain/internal/faultproxy"
	"github.com/cloudchain/cloudchain/internal/kmstest"
	"github.com/cloudchain/cloudchain/keys/awskms"
)

// Faults injected by the project's own proxy between the real SDK clients
// and the servers (dynalite, the KMS test server). The clients retry as
// cchain's do (config.Retryer: the SDK's standard retryer, RetryAttempts
// attempts), with the back-off shortened to 1 ms and the per-attempt timeout
// (config.AttemptTimeout) shortened to attemptTimeout, so that the tests are
// fast; the checks read the store directly, around the proxy.

const attemptTimeout = 300 * time.Millisecond

type proxiedStack struct {
	store *cloudchain.Store // through the proxies
	check *cloudchain.Store // direct, to check what the store holds
	ddbP  *faultproxy.Proxy
	kmsP  *faultproxy.Proxy
}

func newProxiedStack(t *testing.T) *proxiedStack {
	endpoint := dynalitetest.Start(t)
	k := kmstest.NewServer(t)
	k.CreateKey("cloudchain")
	dp := faultproxy.Start(t, endpoint)
	kp := faultproxy.Start(t, k.URL())
	direct := dynalitetest.NewClient(t, endpoint)
	table := dynalitetest.NewTable(t, direct)

	tr := &http.Transport{Proxy: nil, ResponseHeaderTimeout: attemptTimeout}
	t.Cleanup(tr.CloseIdleConnections)
	httpc := &http.Client{Transport: tr}
	ddbc := ddb.New(ddb.Options{
		Region:       dynalitetest.Region,
		BaseEndpoint: aws.String(dp.URL()),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDCLOUDCHAINTEST", "cloudchain-test-secret", ""),
		HTTPClient:   httpc,
		Retryer:      kmstest.FastRetryer(config.RetryAttempts),
	})
	kmsc := k.NewClient(func(o *kms.Options) {
		o.BaseEndpoint = aws.String(kp.URL())
		o.HTTPClient = httpc
		o.Retryer = kmstest.FastRetryer(config.RetryAttempts)
	})
	return &proxiedStack{
		store: cloudchain.New(dynamodb.New(ddbc, table), awskms.New(kmsc, "alias/cloudchain")),
		check: cloudchain.New(dynamodb.New(direct, table), awskms.New(k.NewClient(), "alias/cloudchain")),
		ddbP:  dp,
		kmsP:  kp,
	}
}

// faultCase is one fault on one operation of one command.
type faultCase struct {
	command string // "put" (into an existing service), "first put" (a new service) or "get"
	server  string // "dynamodb" or "kms"
	op      string
	fault   faultproxy.Fault
}

func (c faultCase) proxy(s *proxiedStack) *faultproxy.Proxy {
	if c.server == "kms" {
		return s.kmsP
	}
	return s.ddbP
}

func faultCases() []faultCase {
	common := []faultproxy.Fault{
		{Kind: faultproxy.Reset}, {Kind: faultproxy.ResetAfter}, {Kind: faultproxy.Status500},
		{Kind: faultproxy.Status503}, {Kind: faultproxy.Throttling},
		{Kind: faultproxy.Slow, Delay: 50 * time.Millisecond}, {Kind: faultproxy.Hang},
	}
	ddbOnly := append(common[:len(common):len(common)], faultproxy.Fault{Kind: faultproxy.ProvisionedThroughput})
	var cases []faultCase
	for _, target := range []struct{ command, server, op string }{
		{"put", "dynamodb", "BatchGetItem"},
		{"put", "kms", "Decrypt"},
		{"put", "dynamodb", "PutItem"},
		{"first put", "dynamodb", "Query"},
		{"first put", "kms", "GenerateDataKey"},
		{"first put", "dynamodb", "PutItem"},
		{"get", "dynamodb", "BatchGetItem"},
		{"get", "kms", "Decrypt"},
	} {
		faults := common
		if target.server == "dynamodb" {
			faults = ddbOnly
		}
		for _, f := range faults {
			cases = append(cases, faultCase{target.command, target.server, target.op, f})
		}
	}
	return cases
}

// snapshot is what the store holds for one secret, read around the proxy.
type snapshot struct {
	value    string
	versions int
}

func (s *proxiedStack) snapshot(t *testing.T, ctx context.Context, service, user string) snapshot {
	t.Helper()
	sec, err := s.check.Get(ctx, service, user)
	if errors.Is(err, cloudchain.ErrNotFound) {
		return snapshot{}
	}
	if err != nil {
		t.Fatalf("reading %s/%s around the proxy: %v", service, user, err)
	}
	hist, err := s.check.History(ctx, service, user)
	if err != nil {
		t.Fatalf("history of %s/%s around the proxy: %v", service, user, err)
	}
	for _, h := range hist {
		if h.Auth == cloudchain.AuthFailed {
			t.Fatalf("%s/%s version %d fails authentication after a fault", service, user, h.Version)
		}
	}
	return snapshot{value: string(sec.Value), versions: len(hist)}
}

// TestFaultsSurvived: every fault in faultCases, first transient (one fewer
// than the retryer's attempts) and then persistent, on the operation it
// targets. Transient faults are retried and the command succeeds with exactly
// the requests the retries explain; persistent ones end with an error that is
// never "not found", within a bound in time and in requests; and after every
// fault the store holds the whole write or nothing of it.
func TestFaultsSurvived(t *testing.T) {
	s := newProxiedStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const transient = config.RetryAttempts - 1
	for i, c := range faultCases() {
		for _, persistent := range []bool{false, true} {
			name := fmt.Sprintf("%s/%s/%s/transient", c.command, c.op, c.fault.Kind)
			if persistent {
				name = strings.TrimSuffix(name, "transient") + "persistent"
			}
			t.Run(name, func(t *testing.T) {
				service, user := "svc", fmt.Sprintf("u%03d-%v", i, persistent)
				if c.command == "first put" {
					service = fmt.Sprintf("new%03d-%v", i, persistent)
				}
				if c.command != "first put" {
					if _, err := s.check.Put(ctx, service, user, []byte("old")); err != nil {
						t.Fatal(err)
					}
				}
				before := s.snapshot(t, ctx, service, user)
				p := c.proxy(s)
				s.ddbP.Reset()
				s.kmsP.Reset()
				if persistent {
					p.Always(c.op, c.fault)
				} else {
					p.Inject(c.op, transient, c.fault)
				}
				defer p.Clear()

				opCtx, opCancel := context.WithTimeout(ctx, 20*time.Second)
				defer opCancel()
				start := time.Now()
				var err error
				var got []byte
				if c.command == "get" {
					var sec *cloudchain.Secret
					if sec, err = s.store.Get(opCtx, service, user); err == nil {
						got = sec.Value
					}
				} else {
					_, err = s.store.Put(opCtx, service, user, []byte("new"))
				}
				took := time.Since(start)
				p.Clear()
				reqs, faulted := p.Count(c.op), p.Faulted(c.op)

				// Bounded in time and in requests.
				if took > 5*time.Second {
					t.Errorf("took %v", took)
				}
				if total := s.ddbP.Total() + s.kmsP.Total(); total > 20 {
					t.Errorf("%d requests in all: %v %v", total, s.ddbP.Counts(), s.kmsP.Counts())
				}
				// Each write is bounded by the retryer's attempts (+1 re-read);
				// a put makes two writes (the secret, then the rollback
				// manifest), a first put four (the key ring, the secret, the
				// manifest, the ring's manifest flag).
				writes := map[string]int{"put": 2, "first put": 4}[c.command]
				if c.op != "PutItem" || writes == 0 {
					writes = 1
				}
				if reqs > (config.RetryAttempts+1)*writes {
					t.Errorf("%d %s requests, more than the %d attempts (+1 re-read) for each of %d writes", reqs, c.op, config.RetryAttempts, writes)
				}

				// Transient faults are survived.
				if !persistent || c.fault.Kind == faultproxy.Slow {
					if err != nil {
						t.Fatalf("%s with %d × %s on %s: %v", c.command, transient, c.fault.Kind, c.op, err)
					}
					// A slow answer is an answer: it is not retried.
					wantFaulted := transient
					if c.fault.Kind == faultproxy.Slow {
						wantFaulted = reqs
						if !persistent {
							wantFaulted = min(transient, reqs)
						}
					}
					if faulted != wantFaulted {
						t.Errorf("%d faults served on %s, want %d", faulted, c.op, wantFaulted)
					}
				}
				if err != nil {
					if errors.Is(err, cloudchain.ErrNotFound) {
						t.Errorf("a fault reported as not found: %v", err)
					}
					if (c.fault.Kind == faultproxy.Throttling || c.fault.Kind == faultproxy.ProvisionedThroughput) && !errors.Is(err, cloudchain.ErrThrottled) {
						t.Errorf("persistent throttling: %v, want ErrThrottled", err)
					}
					if strings.Contains(err.Error(), "new") && strings.Contains(err.Error(), "old") {
						t.Errorf("the error may show a secret: %v", err)
					}
				}

				// The whole write or nothing of it.
				after := s.snapshot(t, ctx, service, user)
				switch {
				case c.command == "get":
					if after != before || (err == nil && string(got) != "old") {
						t.Errorf("get changed the store or read wrong: %+v -> %+v, %q", before, after, got)
					}
				case after == before:
					if err == nil {
						t.Errorf("the put succeeded but the store holds %+v", after)
					}
				case after.value == "new" && after.versions == before.versions+1:
				default:
					t.Errorf("partial state: %+v -> %+v (err %v)", before, after, err)
				}
				outcome := "retried, succeeded"
				if err != nil {
					outcome = "error: " + err.Error()
				}
				t.Logf("OUTCOME %s | %s | %s | %s | %d requests (%d faulted) | %v | store %+v -> %+v",
					c.command, c.op, c.fault.Kind, map[bool]string{true: "persistent", false: "transient"}[persistent],
					reqs, faulted, took.Round(time.Millisecond), before, after)
				t.Logf("OUTCOME-ERR %s", outcome)
			})
		}
	}
}

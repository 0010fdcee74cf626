package config

import (
	"errors"
	"testing"
)

// TestRegionSectionSpacing: a [region NAME] section whose name has
// extra blanks passes both the known-section check and the "region not
// listed" check (each trims the name), but resolveRegions looks the section
// up by its exact name "region "+r, so its endpoints are silently ignored
// and the replica is sent to the region's standard AWS endpoint. It should
// either apply the endpoints or refuse the file.
func TestRegionSectionSpacing(t *testing.T) {
	for _, header := range []string{"[region  us-west-2]", "[region\tus-west-2]"} {
		t.Run(header, func(t *testing.T) {
			home := t.TempDir()
			writeFile(t, home, ".cchainrc", pythonRC+"[cloudchain]\nreplica_regions = us-west-2\n"+header+"\nendpoint_url = http://127.0.0.1:8001\nkms_endpoint_url = http://127.0.0.1:4600\n")
			cfg, err := Load(lookupOf(map[string]string{"HOME": home}), Overrides{})
			if errors.Is(err, ErrConfig) {
				return // refused: fine
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Replicas) != 1 || cfg.Replicas[0].Endpoint != "http://127.0.0.1:8001" {
				t.Errorf("file accepted, but replica endpoints = %+v, want http://127.0.0.1:8001 (the section was silently ignored)", cfg.Replicas)
			}
			if len(cfg.KMSReplicas) != 1 || cfg.KMSReplicas[0].Endpoint != "http://127.0.0.1:4600" {
				t.Errorf("file accepted, but KMS replica endpoints = %+v, want http://127.0.0.1:4600", cfg.KMSReplicas)
			}
		})
	}
}

// TestPrimaryFromEnvironment: with replica_regions but no [dynamo]
// region_name, the primary region (where every write goes) is taken from
// AWS_REGION, which Lambda and ECS set to the region the program runs in.
// Two writers in two regions then each write to their own region of the
// global table, where "last writer wins" can silently undo an update: the
// thing replica_regions' single primary exists to prevent. resolveRegions'
// own comment and its error ("replica_regions needs a primary region: set
// region_name in [dynamo]") say the primary must come from the file (or
// --region).
func TestPrimaryFromEnvironment(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", "[dynamo]\ntablename = teamsecrets\n[IAMKMS]\nkeyalias = alias/team\n[cloudchain]\nreplica_regions = us-west-2\n")
	for _, env := range []string{"us-east-1", "us-west-2"} {
		cfg, err := Load(lookupOf(map[string]string{"HOME": home, "AWS_REGION": env}), Overrides{})
		if errors.Is(err, ErrConfig) {
			continue // refused: fine
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("AWS_REGION=%s: accepted; writes go to %s (replicas %v)", env, cfg.Region, cfg.Replicas)
	}
}

// TestWatermarkNameFollowsRegion: the high-water mark names the
// store "dynamodb:REGION:TABLE[@endpoint]" with the primary region. One
// global table is one store, but `--region us-west-2` (the README's way to
// write during an outage) gives it another name, so the marks recorded in
// normal use are not checked for that command: a table put back to an
// earlier copy is accepted there.
func TestWatermarkNameFollowsRegion(t *testing.T) {
	home := t.TempDir()
	writeFile(t, home, ".cchainrc", "[dynamo]\nregion_name = us-east-1\ntablename = teamsecrets\n[IAMKMS]\nkeyalias = alias/team\n[cloudchain]\nreplica_regions = us-west-2\n")
	env := map[string]string{"HOME": home}
	normal, err := Load(lookupOf(env), Overrides{})
	if err != nil {
		t.Fatal(err)
	}
	moved, err := Load(lookupOf(env), Overrides{Region: "us-west-2"})
	if err != nil {
		t.Fatal(err)
	}
	if normal.storeName() != moved.storeName() {
		t.Errorf("one global table, two high-water-mark names: %q and %q", normal.storeName(), moved.storeName())
	}
}

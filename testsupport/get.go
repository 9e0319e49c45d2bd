package testsupport

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// Get is the body of a GET of url, such as a server's /metrics page,
// whatever the status; an error, or no answer within 10 seconds, fails
// the test.
func Get(t testing.TB, url string) string {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // read to the end: nothing is lost if closing fails
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

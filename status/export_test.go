package status

import "context"

// StoredState is storedState, for tests.
var StoredState = storedState

// Raw returns a record as stored, for tests.
func (s *Store) Raw(ctx context.Context, jid string) ([]byte, error) {
	e, err := s.entry(ctx, jid)
	if err != nil {
		return nil, err
	}
	return e.Value(), nil
}

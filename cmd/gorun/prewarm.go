package main

import (
	"strings"

	"github.com/gorun/gorun/dispatcher"
	"github.com/gorun/gorun/job"
	"github.com/gorun/gorun/playbook"
)

// prewarmed is what the embedded executor opens while it starts.
type prewarmed struct {
	targets []job.Target
	agents  bool // their async agents too
}

// prewarm returns the targets the embedded executor may connect to while
// it starts: the first play's first hosts (as many as the forks, those the
// first task starts on), and whether to start their async agents too (the
// play has an async task). Nothing when the play's connection is not
// known before it runs (templated hosts, connection keywords or variables
// at play level, vars files): no host is dialled that the play would not.
func (s *session) prewarm(books []*playbook.Playbook, limit string) (targets []job.Target, agents bool) {
	if s.inv == nil || len(books) == 0 || len(books[0].Plays) == 0 {
		return nil, false
	}
	play := books[0].Plays[0]
	if strings.Contains(play.Hosts, "{{") || play.Connection != "" || play.RemoteUser != "" || play.Port != nil ||
		len(play.VarsFiles) > 0 || len(play.VarsFileChoices) > 0 {
		return nil, false
	}
	for k := range play.Vars {
		if strings.HasPrefix(k, "ansible_") {
			return nil, false
		}
	}
	hosts, _, err := s.inv.SelectLimit(play.Hosts, limit)
	if err != nil {
		return nil, false
	}
	for _, h := range hosts[:min(len(hosts), max(s.forks, 1))] {
		t, _, err := dispatcher.HostTarget(s.dcfg, s.inv, h)
		if err != nil {
			continue
		}
		targets = append(targets, t)
	}
	// agents run as the become user: the play's become makes them others
	agents = play.Become == nil && play.BecomeUser == "" && play.BecomeMethod == "" &&
		(hasAsync(play.PreTasks) || hasAsync(play.Tasks) || hasAsync(play.PostTasks))
	return targets, agents
}

// hasAsync reports whether a task of tasks (blocks included) has async.
func hasAsync(tasks []*playbook.Task) bool {
	for _, t := range tasks {
		if t.Async != nil || hasAsync(t.Block) || hasAsync(t.Rescue) || hasAsync(t.Always) {
			return true
		}
	}
	return false
}

// Package deploy holds the files operators deploy gorun with; its tests check them.
package deploy

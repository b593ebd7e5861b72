-- A verification published through a work-in-progress pact's URL (its
-- metadata says "w=true") is a WIP verification: as in the real broker, a
-- successful one does not end the pact's WIP state, only a non-WIP success
-- by the provider branch (or tag) does.
ALTER TABLE verifications ADD COLUMN wip boolean NOT NULL DEFAULT false;

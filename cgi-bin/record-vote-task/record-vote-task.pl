#!/usr/bin/perl
#
# record-vote-task: one queue item on stdin, {"voter_id", "vote", "ts"},
# upserted into PostgreSQL (PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE).
# A voter's newest vote wins, whatever order the items run in.
# Exit 0: stored.  Exit 1: the database failed (dcgid retries the item).
# Exit 2: the item is malformed (a poison item: retrying cannot help).
#
use strict;
use warnings;
use DBI;
use JSON::PP;

my $in = do { local $/; <STDIN> } // '';
my $item = eval { JSON::PP->new->decode($in) };
if (ref $item ne 'HASH') {
	print STDERR "record-vote-task: item $ENV{DCGI_ITEM_ID}: not a JSON object\n";
	exit 2;
}
my ($voter, $vote, $ts) = @{$item}{qw(voter_id vote ts)};
$ts //= 0;
unless (defined $voter && !ref $voter && $voter =~ /\A[A-Za-z0-9_-]{1,64}\z/ &&
    defined $vote && !ref $vote && $vote =~ /\A[ab]\z/ && $ts =~ /\A[0-9]{1,19}\z/) {
	print STDERR "record-vote-task: item $ENV{DCGI_ITEM_ID}: bad voter_id, vote or ts\n";
	exit 2;
}

my $dbh = DBI->connect('dbi:Pg:', undef, undef,
    { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
unless ($dbh) {
	print STDERR "record-vote-task: database: $DBI::errstr";
	exit 1;
}
# "relation already exists" notices are not news.
my $ok = $dbh->do(q{SET client_min_messages TO warning}) &&
    $dbh->do(q{CREATE TABLE IF NOT EXISTS votes (
	voter_id   text PRIMARY KEY,
	vote       text NOT NULL,
	ts         bigint NOT NULL DEFAULT 0,
	updated_at timestamptz NOT NULL DEFAULT now())}) &&
    $dbh->do(q{INSERT INTO votes (voter_id, vote, ts) VALUES (?, ?, ?)
	ON CONFLICT (voter_id) DO UPDATE
	SET vote = EXCLUDED.vote, ts = EXCLUDED.ts, updated_at = now()
	WHERE votes.ts <= EXCLUDED.ts}, undef, $voter, $vote, $ts);
unless ($ok) {
	print STDERR "record-vote-task: database: ", $dbh->errstr, "\n";
	exit 1;
}
exit 0;

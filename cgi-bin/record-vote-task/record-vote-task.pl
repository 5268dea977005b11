#!/usr/bin/perl
#
# record-vote-task: one queue item on stdin, {"voter_id", "vote", "ts"},
# upserted into PostgreSQL's table "votes" (made when missing).
#
#   voter_id  1 to 64 of [A-Za-z0-9_-]
#   vote      "a" or "b"
#   ts        optional: when the vote was cast (an integer, the vote
#             function sends nanoseconds since the epoch; 0 when absent).
#             A voter's newest vote wins, whatever order the items run in:
#             an item older than the stored vote changes nothing.
#
# Environment: libpq's own PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE,
# and PGPASSWORD_FILE (a file holding the password: a dcgi Secret)
# (PGCONNECT_TIMEOUT defaults to 5 s here); from dcgid also DCGI_QUEUE,
# DCGI_ITEM_ID and DCGI_ATTEMPT, used in log lines only.
#
# Exit 0: stored (or older than what is stored).  Exit 1: the database
# failed (dcgid retries the item).  Exit 2: the item is malformed (a poison
# item: retrying cannot help).  Nothing is written to stdout; reasons go
# to stderr, which dcgid logs.
#
use strict;
use warnings;
use DBI;
use JSON::PP;

my $who = sprintf 'record-vote-task: %s item %s', $ENV{DCGI_QUEUE} // '-',
    $ENV{DCGI_ITEM_ID} // '-';
$who .= " attempt $ENV{DCGI_ATTEMPT}" if defined $ENV{DCGI_ATTEMPT};

# libpq's messages span lines; dcgid logs stderr a line at a time.
sub oneline { my $s = shift; $s =~ s/\s+\z//; $s =~ s/\s*\n\s*/; /g; return $s; }

sub poison { print STDERR "$who: $_[0]\n"; exit 2; }

binmode STDIN;
my $in = do { local $/; <STDIN> } // '';
poison('empty item') if $in !~ /\S/;
poison('item larger than 64 KiB') if length $in > 65536;
my $item = eval { JSON::PP->new->utf8->decode($in) };
poison('not a JSON object') if ref $item ne 'HASH';

my ($voter, $vote, $ts) = @{$item}{qw(voter_id vote ts)};
$ts //= 0;
poison('voter_id must be 1 to 64 of A-Z a-z 0-9 _ -')
    unless defined $voter && !ref $voter && $voter =~ /\A[A-Za-z0-9_-]{1,64}\z/;
poison('vote must be "a" or "b"')
    unless defined $vote && !ref $vote && $vote =~ /\A[ab]\z/;
# A non-negative integer that fits PostgreSQL's bigint.
poison('ts must be a non-negative integer')
    unless !ref $ts && $ts =~ /\A[0-9]{1,19}\z/ &&
    (length $ts < 19 || $ts le '9223372036854775807');

$ENV{PGCONNECT_TIMEOUT} //= 5;
# PGPASSWORD_FILE: a file with the password (a dcgi Secret), read here;
# never in the environment.
my $password;
if (defined $ENV{PGPASSWORD_FILE} && length $ENV{PGPASSWORD_FILE}) {
	if (open my $fh, '<', $ENV{PGPASSWORD_FILE}) {
		local $/;
		$password = <$fh>;
		close $fh;
		$password =~ s/[\r\n]+\z// if defined $password;
	} else {
		print STDERR "$who: PGPASSWORD_FILE: $!\n";
		exit 1;
	}
}
my $dbh = DBI->connect('dbi:Pg:', undef, $password,
    { RaiseError => 0, PrintError => 0, AutoCommit => 1 });
unless ($dbh) {
	my $err = oneline($DBI::errstr // 'cannot connect');
	print STDERR "$who: database: $err\n";
	exit 1;
}

sub failed {
	my $err = oneline($dbh->errstr // 'unknown error');
	print STDERR "$who: database: $err\n";
	$dbh->disconnect;
	exit 1;
}

# "relation already exists" notices are not news.
$dbh->do(q{SET client_min_messages TO warning}) or failed();
# The table: made by the first run; a table made with the plain schema
# (voter_id, vote, updated_at) gets the ts column.  Two runs that make it
# at the same moment may clash: the loser exits 1 and is retried.
my ($table, $has_ts) = $dbh->selectrow_array(q{
	SELECT to_regclass('votes') IS NOT NULL,
	    EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('votes')
		AND attname = 'ts' AND NOT attisdropped)});
defined $table or failed();
if (!$table) {
	$dbh->do(q{CREATE TABLE IF NOT EXISTS votes (
		voter_id   text PRIMARY KEY,
		vote       text NOT NULL,
		ts         bigint NOT NULL DEFAULT 0,
		updated_at timestamptz NOT NULL DEFAULT now())}) or failed();
} elsif (!$has_ts) {
	$dbh->do(q{ALTER TABLE votes ADD COLUMN IF NOT EXISTS ts bigint NOT NULL DEFAULT 0})
	    or failed();
}
$dbh->do(q{INSERT INTO votes (voter_id, vote, ts) VALUES (?, ?, ?)
	ON CONFLICT (voter_id) DO UPDATE
	SET vote = EXCLUDED.vote, ts = EXCLUDED.ts, updated_at = now()
	WHERE votes.ts <= EXCLUDED.ts}, undef, $voter, $vote, $ts) or failed();
$dbh->disconnect;
exit 0;

<?php
// Says who runs it (real uid from /proc, as the tests compare it).
preg_match('/^Uid:\s+(\d+)/m', file_get_contents('/proc/self/status'), $m);
header('Content-Type: text/plain');
echo "uid=", $m[1], "\npid=", getmypid(), "\n";
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    echo "posted=", strlen(file_get_contents('php://input')), "\n";
}

<?php
// For the differential suite: what php-cgi saw of the request, sorted, so
// that two servers' answers compare line by line.
header('Content-Type: text/plain');
$server = $_SERVER;
ksort($server);
foreach ($server as $k => $v) {
    if ($k === 'REQUEST_TIME' || $k === 'REQUEST_TIME_FLOAT') {
        $v = '(time)';
    }
    echo $k, '=', is_array($v) ? json_encode($v) : $v, "\n";
}
echo 'get=', json_encode($_GET), "\n";
echo 'post=', json_encode($_POST), "\n";
echo 'input=', file_get_contents('php://input'), "\n";

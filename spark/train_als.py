#!/usr/bin/env python3
"""Train implicit ALS on Apache Spark MLlib from a `recctl export events` folder and write the factors in the
layout `recctl import model als --from OUT` installs.

Input  (EXPORT, see Schemas/training-export.md): schema.json, interactions/part-*.csv.gz (user,item,weight with
        RecDB's dense internal ids and summed event weights, exactly the matrix RecDB's ALS trains on),
        users.jsonl.gz and items.jsonl.gz (internal id -> external id).
Output (OUT): model.json (format recdb-spark-als: rank, reg_param, alpha, max_iter, seed, training_seconds,
        events, last_event_sequence, spark_version), user_factors/ and item_factors/ (Spark JSON output:
        part-* files of {"id": "<external id>", "features": [floats]} and _SUCCESS), and with --similar-items K
        item_similarities/ ({"id", "similar": [{"id", "score"}]}: the K nearest items by cosine of the factors).

Local mode here:   spark/run-local EXPORT OUT --rank 64          (makes spark/.venv with pyspark on first use)
On a cluster:      spark-submit --master yarn spark/train_als.py hdfs:///recdb/export hdfs:///recdb/als --rank 64
Paths may be any Hadoop file system URI (hdfs://, s3a://, file://).
"""
import argparse
import json
import sys
import time


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("export", help="the folder `recctl export events` wrote")
    p.add_argument("out", help="the output folder (replaced if it exists)")
    p.add_argument("--rank", type=int, default=None, help="factors (default: RecDB's ALS default in schema.json)")
    p.add_argument("--reg-param", type=float, default=None,
                   help="MLlib regParam; MLlib scales it by each row's interaction count (ALS-WR), RecDB does not "
                        "(default: RecDB's ALS default)")
    p.add_argument("--alpha", type=float, default=None, help="confidence scale (default: RecDB's ALS default)")
    p.add_argument("--max-iter", type=int, default=None, help="alternations (default: RecDB's ALS default)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--blocks", type=int, default=None, help="user and item blocks (default: Spark's, 10)")
    p.add_argument("--master", default=None, help="Spark master when not run by spark-submit (e.g. local[2])")
    p.add_argument("--similar-items", type=int, default=0, metavar="K",
                   help="also write each item's K most similar items (cosine of the item factors; quadratic in "
                        "items: for catalogs up to about 100k items)")
    p.add_argument("--driver-memory", default="2g")
    return p.parse_args(argv)


def hadoop_path(spark, path):
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p, p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def read_text(spark, path):
    p, fs = hadoop_path(spark, path)
    if not fs.exists(p):
        sys.exit(f"train_als.py: error: {path}: not found (is this a `recctl export events` folder?)")
    stream = fs.open(p)
    reader = spark.sparkContext._jvm.java.io.BufferedReader(spark.sparkContext._jvm.java.io.InputStreamReader(stream, "UTF-8"))
    lines = []
    while True:
        line = reader.readLine()
        if line is None:
            break
        lines.append(line)
    reader.close()
    return "\n".join(lines)


def write_text(spark, path, text):
    p, fs = hadoop_path(spark, path)
    out = fs.create(p, True)
    out.write(bytearray(text.encode("utf-8")))
    out.close()


def main(argv):
    args = parse_args(argv)
    from pyspark.sql import SparkSession, functions as F
    from pyspark.ml.recommendation import ALS

    builder = SparkSession.builder.appName("recdb-train-als")
    if args.master:
        builder = builder.master(args.master).config("spark.driver.memory", args.driver_memory)
    builder = builder.config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false") \
        .config("spark.sql.shuffle.partitions", "8")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    job_started = time.time()

    schema = json.loads(read_text(spark, args.export.rstrip("/") + "/schema.json"))
    if schema.get("format") != "recdb-training-export" or int(schema.get("version", 0)) > 1:
        sys.exit(f"train_als.py: error: {args.export}/schema.json: not a RecDB training export of version 1")
    defaults = schema.get("als_defaults", {})
    rank = args.rank or int(defaults.get("factors", 64))
    reg_param = args.reg_param if args.reg_param is not None else float(defaults.get("regularization", 0.01))
    alpha = args.alpha if args.alpha is not None else float(defaults.get("alpha", 1.0))
    max_iter = args.max_iter or int(defaults.get("iterations", 15))

    export = args.export.rstrip("/")
    interactions = spark.read.csv(export + "/interactions", header=True, schema="user INT, item INT, weight FLOAT")
    users = spark.read.schema("user INT, id STRING").json(export + "/users.jsonl.gz")
    items = spark.read.schema("item INT, id STRING").json(export + "/items.jsonl.gz")

    als = ALS(rank=rank, maxIter=max_iter, regParam=reg_param, alpha=alpha, implicitPrefs=True, userCol="user",
              itemCol="item", ratingCol="weight", seed=args.seed, coldStartStrategy="drop")
    if args.blocks:
        als = als.setNumUserBlocks(args.blocks).setNumItemBlocks(args.blocks)
    interactions = interactions.cache()
    rows = interactions.count()
    print(f"training ALS rank {rank}, regParam {reg_param}, alpha {alpha}, {max_iter} iterations on {rows} "
          f"interactions", file=sys.stderr)
    started = time.time()
    model = als.fit(interactions)
    user_factors = model.userFactors.cache()
    item_factors = model.itemFactors.cache()
    user_factors.count()
    item_factors.count()
    training_seconds = time.time() - started

    out = args.out.rstrip("/")
    p, fs = hadoop_path(spark, out)
    if fs.exists(p):
        fs.delete(p, True)
    user_factors.join(users, user_factors.id == users.user).select(users.id, user_factors.features) \
        .write.json(out + "/user_factors")
    item_factors.join(items, item_factors.id == items.item).select(items.id, item_factors.features) \
        .write.json(out + "/item_factors")
    if args.similar_items > 0:
        write_similar_items(spark, item_factors, items, args.similar_items, out + "/item_similarities")
    meta = {
        "format": "recdb-spark-als", "version": 1, "rank": rank, "reg_param": reg_param, "alpha": alpha,
        "max_iter": max_iter, "seed": args.seed, "implicit_prefs": True, "training_seconds": training_seconds,
        "job_seconds": time.time() - job_started, "events": schema.get("events"),
        "interactions": rows, "last_event_sequence": schema.get("last_event_sequence"),
        "split": schema.get("split"), "spark_version": spark.version, "master": spark.sparkContext.master,
    }
    write_text(spark, out + "/model.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    print(json.dumps(meta, sort_keys=True))
    spark.stop()


def write_similar_items(spark, item_factors, items, k, path):
    """Each item's k nearest items by cosine of the ALS item factors: a normalised self-join ranked per item."""
    from pyspark.sql import functions as F, Window
    from pyspark.ml.functions import array_to_vector
    from pyspark.ml.feature import Normalizer

    normalised = Normalizer(inputCol="v", outputCol="n", p=2.0).transform(
        item_factors.withColumn("v", array_to_vector("features"))).select("id", "n")
    a, b = normalised.alias("a"), normalised.alias("b")
    dot = F.udf(lambda x, y: float(x.dot(y)), "double")
    pairs = a.crossJoin(b).where(F.col("a.id") != F.col("b.id")) \
        .select(F.col("a.id").alias("item"), F.col("b.id").alias("other"), dot("a.n", "b.n").alias("score"))
    ranked = pairs.withColumn("r", F.row_number().over(Window.partitionBy("item").orderBy(F.desc("score")))) \
        .where(F.col("r") <= k)
    names = items.select(F.col("item").alias("iid"), F.col("id"))
    other_names = items.select(F.col("item").alias("oid"), F.col("id").alias("other_id"))
    ranked.join(names, ranked.item == names.iid).join(other_names, ranked.other == other_names.oid) \
        .groupBy("id").agg(F.sort_array(F.collect_list(F.struct(F.col("score"), F.col("other_id").alias("id"))),
                                        asc=False).alias("similar")) \
        .write.json(path)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Packaging for the text-classification TFX pipeline. Exact versions live in requirements.lock."""
from setuptools import find_packages, setup

setup(
    name="tfx-text-mlops",
    version="0.1.0",
    description="End-to-end TFX pipeline for text classification: ingest, validate, transform, train, "
                "evaluate, push and serve with TensorFlow Serving's protocol.",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tfx_pipeline*", "trainer*", "serving*", "runners*"]),
    package_data={"serving": ["deploy/*", "deploy/**/*"]},
    install_requires=[
        "tfx==1.16.0",
        "tensorflow==2.16.2",
        "tensorflow-transform==1.16.0",
        "tensorflow-model-analysis==0.47.1",
        "tensorflow-data-validation==1.16.1",
        "tensorflow-serving-api==2.16.1",
        "apache-beam[gcp]==2.62.0",
        "click>=8.1",
        "PyYAML>=6.0",
        "pydantic>=2.5,<3",
    ],
    extras_require={
        "airflow": ["apache-airflow==2.10.5"],
        "dev": ["pytest==8.0.0", "scikit-learn>=1.5"],
    },
    entry_points={"console_scripts": ["mlops=tfx_pipeline.cli:main"]},
)
